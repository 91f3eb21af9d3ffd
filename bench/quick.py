"""The headline figures in at most 3 minutes (`make bench-quick`), each beside its baseline from the
same run, then their targets, PASS or MISS.

The same benchmark modules as `make bench` (bench/__main__.py), on smaller traffic and fewer
repeats, so that it can be rerun at every change: throughput against the documented Lambda's
storing on DynamoDB Local (clean stream: batch 10 at 0 and 10 ms, batch 100 at 10 ms), the
client's CPU per good notification with DynamoDB stubbed (the comparison no server's work
distorts), a batch with the history against without it at 1 s per request, and the local
pipeline's send-to-event latency beside the publisher's and the processor's rates. Its
figures are noisier than the full run's: a loaded machine moves the 0 ms ratios most.

    .venv/bin/python -m bench.quick
"""

from __future__ import annotations

import time

from bench import client_only, history_beside, pipeline_latency, results, throughput
from bench.throughput import Configuration

JOBS = 5
THROUGHPUT = [Configuration("clean", 10, 0), Configuration("clean", 10, 10), Configuration("clean", 100, 10)]
BUDGET_SECONDS = 180

# (results name, title, measure, module with text and targets)
PARTS = (
    ("quick_throughput", "Throughput on DynamoDB Local, against the documented Lambda's storing",
     lambda: throughput.measure(jobs=JOBS, only=THROUGHPUT, costs=False, put_item=False), throughput),
    ("quick_client_only", "Client only: DynamoDB stubbed in-process",
     lambda: client_only.measure(jobs=JOBS, streams=("clean",), batch_sizes=(10,), repeats=1), client_only),
    ("quick_history_beside", "The history beside the tables", lambda: history_beside.measure(repeats=3), history_beside),
    ("quick_pipeline_latency", "The local pipeline end to end", pipeline_latency.measure, pipeline_latency),
)


def main() -> None:
    started = time.perf_counter()
    every_target = []
    for name, title, measure, benchmark in PARTS:
        print(f"== {title} ==", flush=True)
        measured = measure()
        print(benchmark.text(measured) + "\n", flush=True)
        results.write(name, measured)
        every_target += benchmark.targets(measured)
    took = time.perf_counter() - started
    every_target.append(results.Target(f"bench-quick within {BUDGET_SECONDS} s", took <= BUDGET_SECONDS, f"{took:.0f} s"))
    print(f"== targets (bench-quick took {took:.0f} s; results in bench/results/quick_*.json) ==")
    results.print_targets(every_target)


if __name__ == "__main__":
    main()
