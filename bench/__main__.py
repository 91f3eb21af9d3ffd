"""Every benchmark in one run (`make bench`), then the issue's targets, PASS or MISS.

    .venv/bin/python -m bench [--skip-suite] [--jobs 20 --tasks-per-job 50 --seed N] [--import-runs 7]
"""

from __future__ import annotations

import time

from bench import report, results


def main(argv: list[str] | None = None) -> None:
    parser = results.argument_parser("bench", __doc__)
    for _, _, benchmark in report.BENCHMARKS:
        benchmark.add_arguments(parser)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    every_target = []
    for name, title, benchmark in report.BENCHMARKS:
        print(f"== {title} ==", flush=True)
        measured = benchmark.measure_from(args)
        print(benchmark.text(measured) + "\n", flush=True)
        results.write(name, measured)
        every_target += benchmark.targets(measured)
    report_path = report.write_from_saved()
    print(f"== targets (bench took {time.perf_counter() - started:.0f} s; "
          f"results and bench/README.md's tables ({report_path.name}) in bench/results/) ==")
    results.print_targets(every_target)


if __name__ == "__main__":
    main()
