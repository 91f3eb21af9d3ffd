"""The benchmarks `python -m bench` runs, and bench/README.md's tables rendered from their saved results.

`python -m bench` writes bench/results/report.md at the end of its run; this
re-renders it from bench/results/*.json without measuring anything:

    .venv/bin/python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import (
    client_only,
    coldstart,
    deadline,
    dev_loop,
    history_beside,
    ordering_cost,
    pipeline_latency,
    reports,
    results,
    status_events,
    throughput,
)

# (results name, title, module with add_arguments, measure_from, text and targets)
BENCHMARKS = (
    ("throughput", "Throughput, DynamoDB cost and correctness", throughput),
    ("client_only", "Client only: DynamoDB stubbed in-process", client_only),
    ("ordering_cost", "Write units of the ordering attribute", ordering_cost),
    ("deadline", "The handler against its deadline at batch 10,000", deadline),
    ("history_beside", "The history beside the tables: a batch with it against without it", history_beside),
    ("status_events", "Status-change events and the history: cost", status_events),
    ("pipeline_latency", "The local pipeline end to end: latency and the publisher's rate", pipeline_latency),
    ("reports", "Reports at scale: a month of a busy farm as the archive, a week's report on it", reports),
    ("coldstart", "Cold start (python -X importtime)", coldstart),
    ("dev_loop", "Synthesis and test suite", dev_loop),
)


def render() -> str:
    parts, every_target = [], []
    for name, title, benchmark in BENCHMARKS:
        path = results.RESULTS_DIR / f"{name}.json"
        if not path.is_file():
            continue
        measured = json.loads(path.read_text())
        parts += [f"{title} (measured {measured['measured_at']}):", benchmark.text(measured, markdown=True)]
        every_target += benchmark.targets(measured)
    parts += ["Targets:", results.targets_table(every_target, markdown=True)]
    return "\n\n".join(parts) + "\n"


def write_from_saved() -> Path:
    """bench/results/report.md from the saved results of each benchmark."""
    path = results.RESULTS_DIR / "report.md"
    results.RESULTS_DIR.mkdir(exist_ok=True)
    path.write_text(render())
    return path


def main() -> None:
    print(write_from_saved().read_text())


if __name__ == "__main__":
    main()
