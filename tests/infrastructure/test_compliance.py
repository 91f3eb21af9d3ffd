"""cdk-nag's AwsSolutions checks are wired into the app: an unacknowledged finding fails synthesis."""

from __future__ import annotations

import pytest
from aws_cdk import aws_sqs as sqs

from stacks.synth import build_pipeline, in_process_app


def test_an_unacknowledged_finding_fails_synthesis(tmp_path):
    app = in_process_app(None, str(tmp_path))
    stack = build_pipeline(app)
    sqs.Queue(stack, "QueueWithoutDeadLetters")  # no DLQ, no TLS-only policy: AwsSolutions-SQS3/SQS4
    with pytest.raises(RuntimeError, match=r"(?s)AwsSolutions-SQS3.*QueueWithoutDeadLetters"):
        app.synth()
