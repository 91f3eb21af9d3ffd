"""The layout's rules: the product never imports the tooling above it, and nothing edits sys.path."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each package and what it may never import: product at the bottom, tooling above it.
FORBIDDEN = {
    "lambda_src": {"stacks", "deadline_sqs", "local_pipeline", "bench", "tests"},
    "stacks": {"deadline_sqs", "local_pipeline", "bench", "tests"},
    "deadline_sqs": {"local_pipeline", "bench", "tests"},
    "local_pipeline": {"bench", "tests"},
}
SHIPPED = ["lambda_src", "stacks", "deadline_sqs", "local_pipeline", "bench"]


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & FORBIDDEN[package])
        for path in python_files(package)
    }
    assert {path: names for path, names in wrong.items() if names} == {}


@pytest.mark.parametrize("package", SHIPPED)
def test_no_module_outside_the_tests_edits_sys_path(package):
    editing = [str(path.relative_to(ROOT)) for path in python_files(package) if "sys.path" in path.read_text()]
    assert editing == []
