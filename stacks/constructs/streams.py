"""What the stack's DynamoDB stream consumers share (the status-change publisher, the failing-worker
check): the failure queue their mappings describe failed batches in, the stream reads of their role,
the mapping's settings, and the alarms on both."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.constructs import acknowledge, escape_hatch
from stacks.constructs.functions import OwnFunction
from stacks.constructs.monitoring import PERIOD, alarm

# What the event source mapping reads a stream with, on the streams' ARNs.
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")
# And what it lists streams with: IAM defines it on no resource type, so only on "*". Lambda's
# documented role for stream sources (AWSLambdaDynamoDBExecutionRole) has it; without it, creating
# a mapping can fail with "Cannot access stream ... ListStreams".
LIST_STREAMS = "dynamodb:ListStreams"
# A batch that cannot be handled is retried this often, or for this long, then described in the
# failure queue (its records stay readable in the stream for 24 hours).
STREAM_RETRY_ATTEMPTS = 20
STREAM_MAX_RECORD_AGE = Duration.hours(1)
FAILURE_QUEUE_RETENTION = Duration.days(14)
# Where a stream consumer's failed invocations go instead of a function dead-letter queue (own_function).
STREAM_CONSUMER_FAILURES = (
    "Invoked only by its stream event source mapping, whose on-failure destination is the "
    "failure queue (alarmed); a function DLQ only catches asynchronous invocations"
)


def failure_queue(
    scope: Construct, *, queue_name: str, logical_id: str, removal_policy: RemovalPolicy, receives: str
) -> sqs.Queue:
    """The queue a consumer's stream mappings (and ``receives``: its rule's dead letters) go to; SQS-managed
    encryption, TLS-only, 14 days. Child "FailureQueue" of ``scope``, its logical id pinned."""
    queue = sqs.Queue(
        scope,
        "FailureQueue",
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
                f"This queue is itself a dead-letter queue: {receives} (alarmed when it holds anything)"
            ),
            "Serverless::Serverless-SQSRedrivePolicy": (
                "This queue is itself a dead-letter queue (alarmed when it holds anything): a redrive policy "
                "would move failure records out of sight"
            ),
        },
    )
    return queue


def grant_stream_reads(own: OwnFunction, streams: Sequence[str], *, key: kms.IKey | None, tracing: bool, which: str) -> None:
    """Let ``own``'s role read ``streams`` (``which``: how the acknowledgment names them), decrypting their
    records with their tables' ``key``."""
    if key is not None:  # the streams' records are encrypted with their tables' key, decrypted as the reader
        key.grant(own.role, "kms:Decrypt")
    own.role.add_to_policy(iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=list(streams)))
    own.role.add_to_policy(iam.PolicyStatement(actions=[LIST_STREAMS], resources=["*"]))
    acknowledge(
        own.role,
        {"AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
            "dynamodb:ListStreams, which the stream event source mappings need, has no resource type: IAM "
            f"allows it only on '*' (it lists stream ARNs, reads no record); the stream reads are on the {which}"
            + ("; active tracing's two X-Ray actions are resourceless too" if tracing else "")
        )},
    )  # fmt: skip


def stream_mapping(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    stream_arn: str,
    batch_size: int,
    failures: sqs.IQueue,
    filters: Sequence[dict] | None = None,
) -> lambda_.EventSourceMapping:
    """From the stream's start, with partial batch responses, bisection on errors and bounded retries; a
    batch given up on is described in ``failures``. ``filters``: Lambda's FilterCriteria patterns."""
    return lambda_.EventSourceMapping(
        scope,
        construct_id,
        target=function,
        event_source_arn=stream_arn,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        batch_size=batch_size,
        bisect_batch_on_error=True,
        report_batch_item_failures=True,
        retry_attempts=STREAM_RETRY_ATTEMPTS,
        max_record_age=STREAM_MAX_RECORD_AGE,
        on_failure=event_sources.SqsDlq(failures),
        filters=list(filters) if filters else None,
    )


def consumer_alarms(
    scope: Construct,
    *,
    function: lambda_.IFunction,
    failures: sqs.IQueue,
    late_threshold: Duration,
    failures_description: str,
    late_id: str,
    late_description: str,
) -> list[cloudwatch.Alarm]:
    """Anything in the failure queue, and the function more than ``late_threshold`` behind its streams."""
    iterator_age = cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name="IteratorAge",
        dimensions_map={"FunctionName": function.function_name},
        statistic="Maximum",
        period=PERIOD,
    )
    queued = failures.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
    return [
        alarm(scope, "FailureQueueAlarm", queued, 0, failures_description),
        alarm(scope, late_id, iterator_age, late_threshold.to_milliseconds(), late_description),
    ]
