"""Imports the stacks package before any test module imports aws_cdk: the package sets jsii's
switch for the Node end-of-life banner, which must precede the first `import aws_cdk`."""

from __future__ import annotations

import pytest

import stacks  # noqa: F401
from tests.infrastructure.studio_configs import StudioSynthesis, synthesize_studios


@pytest.fixture(scope="session")
def studio_synthesis(tmp_path_factory) -> StudioSynthesis:
    """Every studio config (tests/infrastructure/studio_configs.py), synthesized once per session."""
    return synthesize_studios(tmp_path_factory.mktemp("cdk.out"))
