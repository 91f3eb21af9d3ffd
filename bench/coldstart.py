"""Cold start: what importing the handler costs on top of importing boto3 alone.

Each measurement is a fresh interpreter with `-X importtime`. The overhead is measured
directly: the cumulative import time of the handler in an interpreter that has just
imported boto3 (only what the handler adds is left to import), median of the runs.
Cross-checks: the difference between the medians of `import lambda_function` and
`import boto3` alone in separate interpreters (runs alternate so machine noise hits
both alike, but on a loaded machine one interpreter's noise is tens of ms, larger than
the overhead), and the self time of the modules the handler imports that boto3 does not.

The handler is imported from a copy of lambda_src/ without bytecode caches, with -B,
as on Lambda: the asset leaves out __pycache__ and /var/task is read-only, so every
cold start compiles our modules, while boto3 comes with its bytecode.

    .venv/bin/python -m bench.coldstart [--import-runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import results
from local_pipeline.engines import REPO_ROOT, local_aws_environment

LAMBDA_SOURCE = REPO_ROOT / "lambda_src"
HANDLER_MODULE = "lambda_function"
TARGET_OVERHEAD_MS = 30.0


def import_times_us(module: str, code_root: Path, after: str | None = None) -> dict[str, tuple[int, int]]:
    """(self, cumulative) import time of every module `import module` imports, in a fresh interpreter in `code_root`
    that has imported `after` first (its imports are then reported too)."""
    env = {**os.environ, **local_aws_environment(), "AWS_LAMBDA_FUNCTION_NAME": "bench-coldstart"}
    env.pop("PYTHONPATH", None)
    completed = subprocess.run(
        [sys.executable, "-B", "-X", "importtime", "-c", f"import {after}; import {module}" if after else f"import {module}"],
        cwd=code_root, env=env, capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"`import {module}` failed:\n{completed.stderr[-2000:]}")
    times = {}
    for line in completed.stderr.splitlines():
        # "import time:   self [us] | cumulative | imported package" (nested imports indented)
        fields = [field.strip() for field in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[1].isdigit():
            times.setdefault(fields[2], (int(fields[0]), int(fields[1])))
    if module not in times:
        raise RuntimeError(f"no import time reported for {module}")
    return times


def measure(runs: int = 7) -> dict:
    if not (LAMBDA_SOURCE / f"{HANDLER_MODULE}.py").is_file():
        return {"skipped": f"{LAMBDA_SOURCE.name}/{HANDLER_MODULE}.py does not exist yet"}
    handler_ms, boto3_ms, beyond_boto3_ms, after_boto3_ms = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-lambda-src.") as copy:
        code_root = Path(copy) / "lambda_src"
        shutil.copytree(LAMBDA_SOURCE, code_root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for _ in range(runs):
            handler_run = import_times_us(HANDLER_MODULE, code_root)
            boto3_run = import_times_us("boto3", code_root)
            after_boto3_ms.append(import_times_us(HANDLER_MODULE, code_root, after="boto3")[HANDLER_MODULE][1] / 1000)
            handler_ms.append(handler_run[HANDLER_MODULE][1] / 1000)
            boto3_ms.append(boto3_run["boto3"][1] / 1000)
            beyond_boto3_ms.append(
                sum(own for name, (own, _) in handler_run.items() if name not in boto3_run) / 1000)
    median_handler, median_boto3 = statistics.median(handler_ms), statistics.median(boto3_ms)
    return {
        "runs": runs,
        "import_lambda_function_ms": handler_ms,
        "import_boto3_ms": boto3_ms,
        "median_lambda_function_ms": median_handler,
        "median_boto3_ms": median_boto3,
        "import_lambda_function_after_boto3_ms": after_boto3_ms,
        "overhead_ms": statistics.median(after_boto3_ms),
        "difference_of_medians_ms": median_handler - median_boto3,
        "median_modules_beyond_boto3_ms": statistics.median(beyond_boto3_ms),
    }


def text(measured: dict, markdown: bool = False) -> str:
    if "skipped" in measured:
        return f"cold start: skipped ({measured['skipped']})"
    return results.format_table(
        ["import", f"median of {measured['runs']} (ms)"],
        [
            ["boto3", f"{measured['median_boto3_ms']:.1f}"],
            [HANDLER_MODULE, f"{measured['median_lambda_function_ms']:.1f}"],
            [f"overhead: {HANDLER_MODULE} after boto3, same interpreter", f"{measured['overhead_ms']:.1f}"],
            ["cross-check: difference of the two medians above", f"{measured['difference_of_medians_ms']:.1f}"],
            ["cross-check: modules boto3 does not import (self time)", f"{measured['median_modules_beyond_boto3_ms']:.1f}"],
        ],
        markdown,
    )


def targets(measured: dict) -> list[results.Target]:
    if "skipped" in measured:
        return [results.Target.skipped("import overhead over boto3 <= 30 ms", measured["skipped"])]
    overhead = measured["overhead_ms"]
    return [results.Target("import overhead over boto3 <= 30 ms", overhead <= TARGET_OVERHEAD_MS, f"{overhead:.1f} ms")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import (default 7)")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.import_runs)


if __name__ == "__main__":
    results.run_alone("coldstart", sys.modules[__name__])
