"""Benchmarks: our processor beside the documented example's way of storing, on DynamoDB Local.

`python -m bench` runs them all; each is also runnable alone (`python -m bench.<name>`):
throughput (with the cost model built on it), coldstart, dev_loop (synthesis and
test-suite time); `python -m bench.report` renders the README's tables from the saved
results in bench/results/.
"""

import sys
from pathlib import Path

# The processor's code root, as on Lambda (its modules import each other from there).
_LAMBDA_SOURCE = str(Path(__file__).resolve().parent.parent / "lambda_src")
if _LAMBDA_SOURCE not in sys.path:
    sys.path.insert(0, _LAMBDA_SOURCE)
