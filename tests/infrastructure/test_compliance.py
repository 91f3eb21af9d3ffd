"""cdk-nag's rule packs are wired into the app: an unacknowledged finding of any of them fails synthesis."""

from __future__ import annotations

import re

import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs

from stacks.synth import COMPLIANCE_PACKS, build_pipeline, in_process_app

# One rule of each pack that an unacknowledged queue or log group breaks: (construct, rule).
FINDINGS = {
    "AwsSolutionsChecks": ("QueueWithoutDeadLetters", "AwsSolutions-SQS3"),
    "ServerlessChecks": ("QueueWithoutDeadLetters", "Serverless-SQSRedrivePolicy"),
    "NIST80053R5Checks": ("LogGroupWithoutKey", "NIST.800.53.R5-CloudWatchLogGroupEncrypted"),
}


def test_every_pack_has_a_finding_below():
    assert {pack.__name__ for pack in COMPLIANCE_PACKS} == set(FINDINGS)


@pytest.mark.parametrize("pack", sorted(FINDINGS))
def test_an_unacknowledged_finding_fails_synthesis(tmp_path, pack):
    app = in_process_app(None, str(tmp_path))
    stack = build_pipeline(app)
    sqs.Queue(stack, "QueueWithoutDeadLetters", enforce_ssl=True)
    logs.LogGroup(stack, "LogGroupWithoutKey", removal_policy=RemovalPolicy.DESTROY)
    construct, rule = FINDINGS[pack]
    # The report names the resource, then the rule to acknowledge.
    with pytest.raises(RuntimeError, match=rf"{construct}/Resource [^\n]*\n\s+Acknowledge with '[^']*{re.escape(rule)}'"):
        app.synth()
