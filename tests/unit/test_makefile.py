"""The Makefile as a studio uses it: its dry runs (`make -n`) show what each target would run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def dry_run(*arguments: str) -> list[str]:
    """The commands `make` would run, without running them (and without the toolchain checks' output)."""
    result = subprocess.run(["make", "-n", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def cdk_command(lines: list[str], verb: str) -> str:
    (command,) = [line for line in lines if f"cdk {verb}" in line]
    return command


@pytest.mark.parametrize("target", ["synth", "diff", "deploy"])
def test_the_cdk_targets_take_the_studio_file_and_extra_context(target):
    lines = dry_run(target, "STUDIO=studios/starter.json", "CONTEXT=-c batch_size=50 -c history=true")
    assert "-c config=studios/starter.json -c batch_size=50 -c history=true" in cdk_command(lines, target)


def test_synth_without_a_studio_uses_the_repository_defaults():
    assert "-c " not in cdk_command(dry_run("synth"), "synth")


def test_synth_with_a_missing_studio_file_names_it_and_where_to_start():
    result = subprocess.run(
        ["make", "synth", "STUDIO=studios/no-such-studio.json"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "make synth: no such file: studios/no-such-studio.json (start from studios/starter.json)" in result.stderr


def test_a_first_install_checks_node_once():
    # -B: as in a fresh clone, where every install step runs (and each needs Node.js checked first).
    lines = dry_run("-B", "demo")
    assert sum("scripts/check-toolchain node" in line for line in lines) == 1
    assert lines.index("scripts/check-toolchain node") < next(i for i, line in enumerate(lines) if "npm ci" in line)


def test_the_demo_synthesizes_the_local_demo_studio_and_synth_alone_the_defaults():
    assert "-c config=studios/local-demo.json" in cdk_command(dry_run("demo"), "synth")
    assert "-c config=studios/starter.json" in cdk_command(dry_run("demo", "STUDIO=studios/starter.json"), "synth")
