"""The notification queue Deadline's Remote Connection Server sends to, and its dead-letter queue."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs import acknowledge, escape_hatch

FAILURE_QUEUE_RETENTION = Duration.days(14)


def failure_queue(
    scope: Construct, construct_id: str, *, queue_name: str, logical_id: str, dead_letters_of: str,
    removal_policy: RemovalPolicy,
) -> sqs.Queue:
    """A queue that is itself where failures go (``dead_letters_of`` says whose): SQS-managed encryption,
    TLS only, 14 days' retention, the pinned ``logical_id``; alarm it when it holds anything."""
    queue = sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        retention_period=FAILURE_QUEUE_RETENTION,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=removal_policy,
    )
    escape_hatch(queue).override_logical_id(logical_id)
    acknowledge(
        queue,
        {
            "AwsSolutions::AwsSolutions-SQS3": (
                f"This queue is itself a dead-letter queue: {dead_letters_of} (alarmed when it holds anything)"
            ),
            "Serverless::Serverless-SQSRedrivePolicy": (
                "This queue is itself a dead-letter queue (alarmed when it holds anything): a redrive policy "
                "would move failure records out of sight"
            ),
        },
    )
    return queue


class NotificationQueues(Construct):
    """A standard queue redriving to a dead-letter queue; both encrypted and TLS-only.

    Encryption is SQS-managed unless a customer managed ``key`` is given: then it encrypts both.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue_name: str,
        dead_letter_queue_name: str,
        max_receive_count: int,
        retention: Duration,
        dead_letter_retention: Duration,
        visibility_timeout: Duration,
        key: kms.IKey | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Both queues: TLS only, the same encryption, the same fate on stack deletion.
        shared = {"enforce_ssl": True, "removal_policy": removal_policy, "encryption": sqs.QueueEncryption.SQS_MANAGED}
        if key is not None:
            shared |= {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": key}

        # The source queue's ARN is built from its name: referencing the queue itself
        # would make the two queues depend on each other.
        queue_arn = Stack.of(self).format_arn(service="sqs", resource=queue_name)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=dead_letter_queue_name,
            retention_period=dead_letter_retention,
            redrive_allow_policy=sqs.RedriveAllowPolicy(
                redrive_permission=sqs.RedrivePermission.BY_QUEUE,
                source_queues=[sqs.Queue.from_queue_arn(self, "SourceQueue", queue_arn)],
            ),
            **shared,
        )
        acknowledge(
            self.dead_letter_queue,
            {"Serverless::Serverless-SQSRedrivePolicy": (
                "This is the dead-letter queue: its messages stay for dlq_retention_days and raise an alarm"
            )},
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            retention_period=retention,
            visibility_timeout=visibility_timeout,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
            **shared,
        )
