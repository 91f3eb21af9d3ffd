"""Status-change events: the bus, the publisher fed by both tables' streams, where its failures go."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs import escape_hatch
from stacks.constructs.functions import own_function
from stacks.constructs.streams import consumer_alarms, failure_queue, grant_stream_reads, stream_mapping
from stacks.roles import EVENT_BUS, PUBLISH_FAILURE_QUEUE, PUBLISHER_HANDLER
from status_events.publisher import EVENT_BUS_VARIABLE, OPT_OUT_FIELD_VARIABLE, PUBLISH_VARIABLE, STUDIO_VARIABLE

PUBLISHER_TIMEOUT = Duration.seconds(30)
PUBLISHER_MEMORY_MB = 128
STREAM_BATCH_SIZE = 100


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
            queue_name=failure_queue_name,
            logical_id=PUBLISH_FAILURE_QUEUE.logical_id,
            removal_policy=removal_policy,
            receives="the stream mappings' on-failure destination and the alert rule's dead-letter queue",
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
        self.bus.grant_put_events_to(own.role)
        streams = [table.table_stream_arn for table in tables.values()]
        grant_stream_reads(own, streams, key=key, tracing=tracing, which="two streams' ARNs")
        self.mappings = [
            stream_mapping(
                self,
                f"{kind.capitalize()}StreamEventSource",
                function=self.function,
                stream_arn=stream,
                batch_size=STREAM_BATCH_SIZE,
                failures=self.failure_queue,
            )
            for kind, stream in zip(tables, streams, strict=True)
        ]
        own.depend_on_role_policy()

        self.alarms = consumer_alarms(
            self,
            function=self.function,
            failures=self.failure_queue,
            late_threshold=late_threshold,
            failures_description="Status-change events could not be published or delivered",
            late_id="LateEventsAlarm",
            late_description="Status-change events are published late: the publisher is behind its streams",
        )
