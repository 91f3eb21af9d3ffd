"""One construct per capability of the pipeline; each takes keyword arguments, never context.

`escape_hatch` reaches the CloudFormation resource behind one; `acknowledge` records why a
cdk-nag finding does not apply to one (stacks/synth.py runs the rule packs)."""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, CfnResource, Validations
from constructs import IConstruct


def escape_hatch(construct: IConstruct) -> CfnResource:
    """The CloudFormation resource behind an L2 construct, for what the L2 does not offer."""
    return cast(CfnResource, construct.node.default_child)


def acknowledge(construct: IConstruct, reasons: dict[str, str]) -> None:
    """Acknowledge cdk-nag rules (`<pack>::<rule>` -> why it does not apply) on a construct and its children."""
    Validations.of(construct).acknowledge(*(Acknowledgment(id=rule, reason=reason) for rule, reason in reasons.items()))
