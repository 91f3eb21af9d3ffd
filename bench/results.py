"""Where benchmark results go (bench/results/, git-ignored) and how they are printed."""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write(name: str, data: dict) -> Path:
    """Write one benchmark's results as bench/results/<name>.json, with when and where it ran."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    machine = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    stamped = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine, **data}
    path.write_text(json.dumps(stamped, indent=2, default=str) + "\n")
    return path


def format_table(header: list[str], rows: list[list], markdown: bool = False) -> str:
    """Aligned columns for the terminal, or a Markdown table for bench/README.md."""
    cells = [header] + [[str(cell) for cell in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|")
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                       for i, (cell, width) in enumerate(zip(row, widths, strict=True))) for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: PASS, MISS, or SKIPPED with the reason."""

    name: str
    passed: bool | None
    detail: str

    @classmethod
    def skipped(cls, name: str, reason: str) -> Target:
        return cls(name, None, reason)

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "SKIPPED"}[self.passed]


def targets_table(targets: list[Target], markdown: bool = False) -> str:
    return format_table(["target", "result", "measured"], [[t.name, t.verdict, t.detail] for t in targets], markdown)


def print_targets(targets: list[Target]) -> None:
    print(targets_table(targets))


def argument_parser(module: str, doc: str) -> argparse.ArgumentParser:
    """The command line of `python -m <module>`, described by the first paragraph of its doc.

    Benchmarks that share options (the traffic's) each add them: the same option again replaces it.
    """
    return argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n\n")[0],
                                   conflict_handler="resolve")


def run_alone(name: str, benchmark) -> None:
    """`python -m bench.<name>`: measure, print the tables, save the results, print the targets.

    `benchmark` is the module, with add_arguments, measure_from, text and targets.
    """
    parser = argument_parser(f"bench.{name}", benchmark.__doc__)
    benchmark.add_arguments(parser)
    measured = benchmark.measure_from(parser.parse_args())
    print(benchmark.text(measured))
    write(name, measured)
    print_targets(benchmark.targets(measured))
