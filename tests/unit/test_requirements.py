"""requirements.txt is the CDK's own workflow: `pip install -r requirements.txt && npx cdk synth` in a fresh
virtualenv. Whatever the app imports when `cdk synth` runs app.py must come from it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What app.py imports (stacks/synth.py builds the stack from stacks/pipeline_stack.py), in a fresh interpreter.
# Imported only where installed (botocore/httpsession.py falls back to its own CA bundle without it).
OPTIONAL_IMPORTS = {"certifi"}
IMPORTED_BY_THE_APP = (
    "import json, sys; import stacks.synth, stacks.pipeline_stack; "
    "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(line: str) -> str:
    return _normalized(re.match(r"[A-Za-z0-9._-]+", line.strip()).group())


def _installed_by(names: set[str]) -> set[str]:
    """The distributions a pip install of ``names`` brings, dependencies included (extras aside)."""
    found, pending = set(), set(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a dependency for another platform (colorama, on Windows)
            continue
        found.add(name)
        for requirement in requirements:
            if "extra ==" not in requirement:
                pending.add(_requirement_name(requirement))
    return found


def _app_imports() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", IMPORTED_BY_THE_APP], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return set(json.loads(result.stdout)) - set(sys.stdlib_module_names) - set(sys.builtin_module_names)


def test_requirements_txt_installs_everything_the_cdk_app_imports():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "-e ." in lines, "requirements.txt must install the app's own packages (`-e .`): stacks/ imports lambda_src/'s"
    named = {_requirement_name(line) for line in lines if not line.startswith("-")}
    named |= {_requirement_name(dependency) for dependency in project["project"]["dependencies"]}
    own_packages = {package.split(".")[0] for package in project["tool"]["setuptools"]["packages"]}

    # Dunder names are the interpreter's and the editable install's own finders; _distutils_hack is setuptools'.
    imported = {name for name in _app_imports() if not name.startswith("__")} - {"_distutils_hack", *OPTIONAL_IMPORTS}
    distributions = metadata.packages_distributions()
    own = imported & own_packages
    assert {"stacks", "notification_processor", "status_events"} <= own
    third_party = {module: {_normalized(d) for d in distributions.get(module, [])} for module in imported - own}
    unknown = sorted(module for module, found in third_party.items() if not found)
    assert unknown == [], f"imported by the app but from no installed distribution (nor pyproject's packages): {unknown}"
    installed = _installed_by(named)
    missing = {module: sorted(found) for module, found in third_party.items() if not found & installed}
    assert missing == {}, "the app imports these, which requirements.txt (with pyproject's dependencies) does not install"
