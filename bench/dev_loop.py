"""The developer loop on this machine: synthesis time and the whole test suite's time.

- `npx --no-install cdk synth --quiet` through the pinned CLI, into a temporary
  output folder (cdk.out is left alone), wall time;
- the in-process synthesis the tests use (`stacks.synth.synthesize_template()`), in a
  fresh interpreter, split into importing the CDK and synthesizing;
- `.venv/bin/pytest -q`, wall time, against the issue's 3-minute target (skip with
  --skip-suite: it takes minutes).

    .venv/bin/python -m bench.dev_loop [--synth-runs 1] [--skip-suite]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import results
from local_pipeline.engines import REPO_ROOT

VENV_BIN = Path(sys.executable).parent
SUITE_TARGET_SECONDS = 180
IN_PROCESS_SYNTHESIS = """
import json, time
started = time.perf_counter()
from stacks.synth import synthesize_template
imported = time.perf_counter()
synthesize_template()
print(json.dumps({"import_seconds": imported - started, "synthesize_seconds": time.perf_counter() - imported}))
"""


def _tool_environment() -> dict:
    # As the Makefile runs them: the venv's python first on PATH (the CDK app command is `python3 app.py`).
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def _timed(command: list[str], **options) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO_ROOT, env=_tool_environment(), capture_output=True, text=True,
                               check=False, **options)
    return time.perf_counter() - started, completed


def _failure(command: str, completed: subprocess.CompletedProcess) -> str:
    return f"`{command}` exited with {completed.returncode}: {(completed.stderr or completed.stdout)[-500:].strip()}"


def cdk_synth_seconds(runs: int) -> dict:
    if not (REPO_ROOT / "cdk.json").is_file():
        return {"skipped": "no cdk.json yet"}
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-cdk.out.") as outdir:
            seconds, completed = _timed(["npx", "--no-install", "cdk", "synth", "--quiet", "-o", outdir])
        if completed.returncode != 0:
            return {"skipped": _failure("cdk synth", completed)}
        times.append(seconds)
    return {"runs": times, "median_seconds": statistics.median(times)}


def in_process_synthesis_seconds(runs: int) -> dict:
    measured = []
    for _ in range(runs):
        seconds, completed = _timed([sys.executable, "-c", IN_PROCESS_SYNTHESIS])
        if completed.returncode != 0:
            return {"skipped": _failure("synthesize_template()", completed)}
        measured.append({"wall_seconds": seconds, **json.loads(completed.stdout.strip().splitlines()[-1])})
    return {"runs": measured, **{f"median_{name}": statistics.median(run[name] for run in measured)
                                 for name in ("wall_seconds", "import_seconds", "synthesize_seconds")}}


def suite_seconds() -> dict:
    seconds, completed = _timed([str(VENV_BIN / "pytest"), "-q"])
    summary = (completed.stdout.strip().splitlines() or [""])[-1]
    return {"seconds": seconds, "exit_code": completed.returncode, "summary": summary}


def measure(runs: int = 1, suite: bool = True) -> dict:
    return {
        "cdk_synth": cdk_synth_seconds(runs),
        "in_process_synthesis": in_process_synthesis_seconds(runs),
        "test_suite": suite_seconds() if suite else {"skipped": "--skip-suite"},
    }


def text(measured: dict, markdown: bool = False) -> str:
    synth, in_process, suite = measured["cdk_synth"], measured["in_process_synthesis"], measured["test_suite"]
    rows = [
        ["npx cdk synth --quiet (wall)", synth.get("skipped") or f"{synth['median_seconds']:.1f} s"],
        ["synthesize_template(): import CDK", in_process.get("skipped") or f"{in_process['median_import_seconds']:.1f} s"],
        ["synthesize_template(): synthesize", in_process.get("skipped") or f"{in_process['median_synthesize_seconds']:.1f} s"],
        [".venv/bin/pytest -q (wall)", suite.get("skipped") or f"{suite['seconds']:.0f} s ({suite['summary']})"],
    ]
    return results.format_table(["step", "time"], rows, markdown)


def targets(measured: dict) -> list[results.Target]:
    name = f"whole test suite < {SUITE_TARGET_SECONDS // 60} min"
    suite = measured["test_suite"]
    if "skipped" in suite:
        return [results.Target.skipped(name, suite["skipped"])]
    passed = suite["seconds"] < SUITE_TARGET_SECONDS and suite["exit_code"] == 0
    return [results.Target(name, passed, f"{suite['seconds']:.0f} s, exit code {suite['exit_code']}")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--synth-runs", type=int, default=1, help="synthesis runs of each kind (default 1)")
    parser.add_argument("--skip-suite", action="store_true", help="do not time the test suite (it takes minutes)")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.synth_runs, suite=not args.skip_suite)


if __name__ == "__main__":
    results.run_alone("dev_loop", sys.modules[__name__])
