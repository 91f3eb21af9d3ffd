"""Every benchmark in one run (`make bench`), then the issue's targets, PASS or MISS.

    .venv/bin/python -m bench [--skip-suite] [--jobs 20 --tasks-per-job 50 --seed N] [--import-runs 7]
"""

from __future__ import annotations

import argparse
import time

from bench import coldstart, dev_loop, results, throughput


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-suite", action="store_true", help="do not time the test suite (it takes minutes)")
    parser.add_argument("--seed", type=int, default=throughput.SEED)
    parser.add_argument("--jobs", type=int, default=throughput.DEFAULT_JOBS)
    parser.add_argument("--tasks-per-job", type=int, default=throughput.DEFAULT_TASKS_PER_JOB)
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import (default 7)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    print("== throughput, DynamoDB cost and correctness ==", flush=True)
    flow = throughput.measure(args.seed, args.jobs, args.tasks_per_job)
    print(throughput.runs_table(flow), throughput.costs_table(flow), sep="\n\n")

    print("\n== cold start ==", flush=True)
    imports = coldstart.measure(args.import_runs)
    print(coldstart.table(imports))

    print("\n== synthesis and test suite ==", flush=True)
    loop = dev_loop.measure(suite=not args.skip_suite)
    print(dev_loop.table(loop))

    for name, measured in (("throughput", flow), ("coldstart", imports), ("dev_loop", loop)):
        results.write(name, measured)
    every_target = throughput.targets(flow) + coldstart.targets(imports) + dev_loop.targets(loop)
    print(f"\n== targets (bench took {time.perf_counter() - started:.0f} s; results in bench/results/) ==")
    results.print_targets(every_target)


if __name__ == "__main__":
    main()
