"""Benchmarks: our processor beside the documented example's way of storing, on DynamoDB Local.

`python -m bench` runs them all; each is also runnable alone (`python -m bench.<name>`):
throughput (with the cost model built on it), coldstart, dev_loop (synthesis and
test-suite time); `python -m bench.report` renders bench/README.md's tables from the saved
results in bench/results/.
"""
