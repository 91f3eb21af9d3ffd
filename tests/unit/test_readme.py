"""The README's deploy path works as written: the files and make targets it names exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def deploy_commands() -> list[str]:
    section = README.split("## Deploying", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_the_fork_steps_start_from_the_starter_and_use_the_checked_make_targets():
    commands = deploy_commands()
    (copy,) = [command for command in commands if command.startswith("cp ")]
    source, studio = copy.split()[1:]
    assert source == "studios/starter.json" and (ROOT / source).is_file()
    assert f"make diff   STUDIO={studio}" in commands and f"make deploy STUDIO={studio}" in commands


def test_every_make_target_the_readme_names_exists():
    targets = set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    named = set(re.findall(r"`make ([a-z-]+)", README)) | set(re.findall(r"^make ([a-z-]+)", README, flags=re.MULTILINE))
    assert named <= targets, named - targets


def test_the_readme_stays_short():
    assert len(README.splitlines()) <= 300
