"""Build the app: one studio's stack, checked by cdk-nag. Used by app.py and, in-process, by tests."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks

from stacks.config import ConfigError, load_config, project_context
from stacks.pipeline_stack import DeadlineNotificationsStack

# cdk-nag's rule packs run on every synthesis.
COMPLIANCE_PACKS = (AwsSolutionsChecks, NIST80053R5Checks, ServerlessChecks)


def add_compliance_checks(app: App) -> None:
    """cdk-nag's rule packs: any finding not acknowledged (with a reason, where it applies) fails synthesis."""
    Validations.of(app).add_plugins(*(pack(app, verbose=True) for pack in COMPLIANCE_PACKS))


def build_pipeline(app: App) -> DeadlineNotificationsStack:
    """The stack for the configuration in the app's context (cdk.json, -c config=..., -c key=value)."""
    config = load_config(app.node.get_all_context())
    add_compliance_checks(app)
    return DeadlineNotificationsStack(app, config.stack_name, config=config)


def main() -> None:
    """app.py's entry point: the CDK CLI passes context and output folder through the environment."""
    app = App()
    try:
        build_pipeline(app)
    except ConfigError as error:
        sys.exit(f"{error}\n(see docs/configuration.md)")  # a traceback would bury it
    app.synth()


def in_process_app(context: Mapping[str, Any] | None, outdir: str) -> App:
    """An app with cdk.json's context plus ``context`` on top, as `cdk synth -c key=value` builds it.

    The CDK's built-in CloudFormation validation, the slowest step of a synthesis, is left to
    `cdk synth`; the tests run cfn-lint on the template instead.
    """
    return App(
        context={**project_context(), **(context or {})},
        outdir=outdir,
        builtin_cloud_formation_validation=False,
    )


def synthesize_template(context: Mapping[str, Any] | None = None) -> dict:
    """The stack's CloudFormation template, synthesized in-process as `cdk synth -c ...` would."""
    with tempfile.TemporaryDirectory(prefix="cdk.out.") as outdir:
        app = in_process_app(context, outdir)
        stack = build_pipeline(app)
        return app.synth().get_stack_artifact(stack.artifact_id).template
