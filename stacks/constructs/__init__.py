"""One construct per capability of the pipeline; each takes keyword arguments, never context.

`escape_hatch` reaches the CloudFormation resource behind one."""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnResource
from constructs import IConstruct


def escape_hatch(construct: IConstruct) -> CfnResource:
    """The CloudFormation resource behind an L2 construct, for what the L2 does not offer."""
    return cast(CfnResource, construct.node.default_child)
