"""What Deadline's Remote Connection Server needs to send notifications to the queue."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# Sending, plus what a sender uses to find the queue by name and check it.
QUEUE_ACTIONS = ("sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes")
# A sender encrypts each message under a data key from the queue's customer managed key.
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


class ProducerAccess(Construct):
    """A customer managed policy allowing only sending to ``queue``.

    Attach it to the RCS machine's EC2 instance role or IAM user; with ``role_name``, the
    stack attaches it to that existing role (by name: no lookup at synthesis).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        queue_key: kms.IKey | None,
        role_name: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        statements = [iam.PolicyStatement(actions=list(QUEUE_ACTIONS), resources=[queue.queue_arn])]
        if queue_key is not None:
            statements.append(iam.PolicyStatement(actions=list(KEY_ACTIONS), resources=[queue_key.key_arn]))
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Lets Deadline's Remote Connection Server send notifications to the queue",
            statements=statements,
        )
        if role_name is not None:
            self.policy.attach_to_role(iam.Role.from_role_name(self, "RemoteConnectionServerRole", role_name))
