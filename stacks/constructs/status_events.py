"""Status-change events: the bus, the publisher fed by both tables' streams, where its failures go."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from constructs import Construct

from stacks.constructs import acknowledge, escape_hatch
from stacks.constructs.functions import own_function
from stacks.constructs.monitoring import PERIOD, alarm
from stacks.constructs.queues import failure_queue
from stacks.roles import EVENT_BUS, PUBLISH_FAILURE_QUEUE, PUBLISHER_HANDLER
from status_events.publisher import EVENT_BUS_VARIABLE, OPT_OUT_FIELD_VARIABLE, PUBLISH_VARIABLE, STUDIO_VARIABLE

# What the event source mapping reads a stream with, on the streams' ARNs.
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")
# And what it lists streams with: IAM defines it on no resource type, so only on "*". Lambda's
# documented role for stream sources (AWSLambdaDynamoDBExecutionRole) has it; without it, creating
# a mapping can fail with "Cannot access stream ... ListStreams".
LIST_STREAMS = "dynamodb:ListStreams"
PUBLISHER_TIMEOUT = Duration.seconds(30)
PUBLISHER_MEMORY_MB = 128
STREAM_BATCH_SIZE = 100
# A batch whose events cannot be published is retried this often, or for this long, then
# described in the failure queue (its records stay readable in the stream for 24 hours).
STREAM_RETRY_ATTEMPTS = 20
STREAM_MAX_RECORD_AGE = Duration.hours(1)


class StatusEvents(Construct):
    """An EventBridge bus and the function that puts each stored status change on it.

    Both ``tables`` must stream NEW_AND_OLD_IMAGES. Each stream feeds the publisher through
    an event source mapping from the stream's start (partial batch responses, bisection on
    errors, bounded retries); a batch it gives up on is described in ``failure_queue``
    (encrypted, TLS-only). ``alarms``: anything in the failure queue, and events later than
    ``late_threshold``. ``notify_opt_out_field`` (one of JobDetails' ExtraInfo0 ... ExtraInfo9)
    is carried on job events as notifyOptOut; it is a plain setting, no secret.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: Mapping[str, dynamodb.ITable],
        bus_name: str,
        studio_name: str,
        publish: str,
        notify_opt_out_field: str,
        failure_queue_name: str,
        late_threshold: Duration,
        log_retention_days: int,
        key: kms.IKey | None,
        tracing: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        # Retained like the tables: studios attach their own rules to it.
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        self.bus.apply_removal_policy(removal_policy)
        escape_hatch(self.bus).override_logical_id(EVENT_BUS.logical_id)
        self.failure_queue = failure_queue(
            self,
            "FailureQueue",
            queue_name=failure_queue_name,
            logical_id=PUBLISH_FAILURE_QUEUE.logical_id,
            dead_letters_of="the stream mappings' on-failure destination and the alert rule's dead-letter queue",
            removal_policy=removal_policy,
        )

        own = own_function(
            self,
            handler=PUBLISHER_HANDLER,
            description="Publishes Deadline job and task status changes from the tables' streams on EventBridge",
            role_description="Runs the status-change publisher: reads the tables' streams, puts events on its bus",
            timeout=PUBLISHER_TIMEOUT,
            memory_size=PUBLISHER_MEMORY_MB,
            environment={
                EVENT_BUS_VARIABLE: self.bus.event_bus_name,
                STUDIO_VARIABLE: studio_name,
                PUBLISH_VARIABLE: publish,
                OPT_OUT_FIELD_VARIABLE: notify_opt_out_field,
            },
            log_retention_days=log_retention_days,
            key=key,
            tracing=tracing,
            failures_handled_by=(
                "Invoked only by its stream event source mappings, whose on-failure destination is the "
                "failure queue (alarmed); a function DLQ only catches asynchronous invocations"
            ),
            removal_policy=removal_policy,
        )
        self.function = own.function
        if key is not None:  # the streams' records are encrypted with their tables' key, decrypted as the reader
            key.grant(own.role, "kms:Decrypt")
        self.bus.grant_put_events_to(own.role)
        streams = [table.table_stream_arn for table in tables.values()]
        own.role.add_to_policy(iam.PolicyStatement(actions=list(STREAM_ACTIONS), resources=streams))
        own.role.add_to_policy(iam.PolicyStatement(actions=[LIST_STREAMS], resources=["*"]))
        acknowledge(
            own.role,
            {"AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
                "dynamodb:ListStreams, which the stream event source mappings need, has no resource type: IAM "
                "allows it only on '*' (it lists stream ARNs, reads no record); the stream reads are on the "
                "two streams' ARNs"
                + ("; active tracing's two X-Ray actions are resourceless too" if tracing else "")
            )},
        )
        self.mappings = [
            lambda_.EventSourceMapping(
                self,
                f"{kind.capitalize()}StreamEventSource",
                target=self.function,
                event_source_arn=stream,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                bisect_batch_on_error=True,
                report_batch_item_failures=True,
                retry_attempts=STREAM_RETRY_ATTEMPTS,
                max_record_age=STREAM_MAX_RECORD_AGE,
                on_failure=event_sources.SqsDlq(self.failure_queue),
            )
            for kind, stream in zip(tables, streams, strict=True)
        ]
        own.depend_on_role_policy()

        iterator_age = cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name="IteratorAge",
            dimensions_map={"FunctionName": self.function.function_name},
            statistic="Maximum",
            period=PERIOD,
        )
        failures = self.failure_queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
        self.alarms = [
            alarm(self, "FailureQueueAlarm", failures, 0, "Status-change events could not be published or delivered"),
            alarm(
                self,
                "LateEventsAlarm",
                iterator_age,
                late_threshold.to_milliseconds(),
                "Status-change events are published late: the publisher is behind its streams",
            ),
        ]
