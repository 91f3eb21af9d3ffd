"""The synthesized stack on the local engines, as one context manager.

`LocalPipeline(spec)` owns everything a local run needs: the spec read from
cdk.out, DynamoDB Local and local SQS, the stack's queues and tables created on
them, and the processor's pollers. Everything comes from the template except one
value, the queue's visibility timeout: on AWS it is six times the function's
timeout (minutes), which is how long a failed message waits before its next try;
locally the queue uses `visibility_timeout` seconds and the batching window shrinks
by the same factor.

With status-change events in the template, the tables stream on DynamoDB Local, the
bus and its rules exist on moto's EventBridge (same server as SQS), and `publishing()`
runs the real publisher behind local stream pollers. Two stand-ins, both queues: a
capture rule sends every event on the bus to `events_queue_url` (so they can be
counted), and the alert rules' topic is `alerts_queue_url` (moto's EventBridge cannot
deliver to SNS), with the rules' own patterns and input transformers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass

from deadline_sqs.local_target import LocalTarget
from deadline_sqs.sending import queue_arn
from local_pipeline.engines import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    DynamoDBLocal,
    LocalSQS,
    local_client,
)
from local_pipeline.event_check import alerted_statuses
from local_pipeline.event_source import SqsEventSource
from local_pipeline.spec import PipelineSpec, StatusEventsSpec
from local_pipeline.stream_source import StreamEventSource
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.roles import HISTORY_TABLE_VARIABLE, TABLE_ROLES
from status_events.changes import SOURCE
from status_events.publisher import EVENT_BUS_VARIABLE, StatusEventPublisher

# 4 s leaves the handler about 3 s per batch (it keeps 1 s back): enough for a batch of 100 on a
# loaded 2-core machine, while a bad message still reaches the DLQ in 5 x 4 s.
DEFAULT_LOCAL_VISIBILITY_TIMEOUT = 4
# Locally DynamoDB Local, not the number of pollers, bounds throughput: past a few
# concurrent invocations each batch only takes longer, and every batch must finish
# within the (scaled) visibility timeout.
LOCAL_POLLERS = 3
# The kernel may deliver Ctrl-C to any thread, and a wait without a timeout in the main thread
# then never returns to see it: the main thread waits in steps of this many seconds.
SIGNAL_CHECK_SECONDS = 0.5


def wait_until_interrupted() -> None:
    """Block the main thread until Ctrl-C or SIGTERM (raised as KeyboardInterrupt or SystemExit)."""
    while True:
        time.sleep(SIGNAL_CHECK_SECONDS)


def result_of(future: Future):
    """The future's result, waiting in steps so that Ctrl-C is seen meanwhile."""
    while not future.done():
        wait([future], timeout=SIGNAL_CHECK_SECONDS)
    return future.result()


@dataclass(frozen=True)
class LocalStatusEvents:
    bus_name: str
    stream_arns: list[str]  # the tables' streams
    failure_queue_url: str
    events_queue_url: str  # every event on the bus (the capture rule's target)
    alerts_queue_url: str  # the alert rules' target, standing in for the alarm topic


@dataclass(frozen=True)
class LocalResources:
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    tables: dict[str, str]  # by role
    visibility_timeout: int  # the local, scaled one
    max_receive_count: int
    history_table: str | None = None
    status_events: LocalStatusEvents | None = None


CAPTURE_RULE = "local-capture-every-event"


def create_local_resources(
    spec: PipelineSpec, sqs, dynamodb, visibility_timeout: int = DEFAULT_LOCAL_VISIBILITY_TIMEOUT, events=None
) -> LocalResources:
    """Create the DLQ, the queue (with its redrive policy), the tables (with their streams) and, given
    an EventBridge client and a template with status-change events, the bus and its rules."""
    dlq = spec.dead_letter_queue
    dlq_url = sqs.create_queue(
        QueueName=dlq.name, Attributes={"MessageRetentionPeriod": str(dlq.retention_seconds)}
    )["QueueUrl"]
    dlq_arn = queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=spec.queue.name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(spec.queue.retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    for table in spec.all_tables:
        dynamodb.create_table(**table.create_table_kwargs())
    waiter = dynamodb.get_waiter("table_exists")
    for table in spec.all_tables:
        waiter.wait(TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    status_events = None
    if spec.status_events is not None and events is not None:
        streams = [dynamodb.describe_table(TableName=t.name)["Table"]["LatestStreamArn"] for t in spec.tables.values()]
        status_events = create_local_bus(spec.status_events, streams, sqs, events)
    return LocalResources(
        queue_url=queue_url,
        queue_arn=queue_arn(sqs, queue_url),
        dead_letter_queue_url=dlq_url,
        dead_letter_queue_arn=dlq_arn,
        tables={kind: table.name for kind, table in spec.tables.items()},
        visibility_timeout=visibility_timeout,
        max_receive_count=spec.max_receive_count,
        history_table=spec.history_table.name if spec.history_table else None,
        status_events=status_events,
    )


def drain(sqs, queue_url: str) -> list[str]:
    """Every message body in the queue, removing them (nothing else reads it meanwhile)."""
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        bodies += [message["Body"] for message in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(messages)],
        )


def create_local_bus(spec: StatusEventsSpec, stream_arns: list[str], sqs, events) -> LocalStatusEvents:
    """The bus, the failure queue, the template's rules (to the alerts stand-in) and the capture rule.

    moto's state belongs to the process, not to one server: a second local stack in one
    process (the tests run several) finds the bus there and its queues emptied.
    """

    def new_queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        drain(sqs, url)  # PurgeQueue allows one call a minute
        return url, queue_arn(sqs, url)

    with suppress(events.exceptions.ResourceAlreadyExistsException):
        events.create_event_bus(Name=spec.bus_name)
    failures_url, _ = new_queue(spec.failure_queue.name)
    events_url, events_arn = new_queue(f"{spec.bus_name}-local-events")
    alerts_url, alerts_arn = new_queue(f"{spec.bus_name}-local-alerts")
    rules = [(CAPTURE_RULE, {"source": [SOURCE]}, {"Arn": events_arn})]
    for rule in spec.rules:
        target = {"Arn": alerts_arn} | ({"InputTransformer": rule.input_transformer} if rule.input_transformer else {})
        rules.append((rule.logical_id, rule.event_pattern, target))
    for name, pattern, target in rules:
        events.put_rule(Name=name, EventBusName=spec.bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=spec.bus_name, Targets=[{"Id": "local", **target}])
    return LocalStatusEvents(spec.bus_name, stream_arns, failures_url, events_url, alerts_url)


def processor_environment(spec: PipelineSpec, resources: LocalResources) -> dict[str, str]:
    """The function's environment from the template, naming the local tables."""
    return {
        **spec.environment,
        **{TABLE_ROLES[kind].environment_variable: name for kind, name in resources.tables.items()},
        **({HISTORY_TABLE_VARIABLE: resources.history_table} if resources.history_table else {}),
    }


class LocalPipeline:
    """The stack's queues and tables on local engines, and the real processor behind local pollers.

    As a context manager: both engines start (in parallel) and the resources are created
    on entry; pollers, if started, and the engines are stopped on exit, whatever happens.
    """

    def __init__(self, spec: PipelineSpec, visibility_timeout: int = DEFAULT_LOCAL_VISIBILITY_TIMEOUT,
                 pollers: int | None = None):
        self.spec = spec
        self.visibility_timeout = visibility_timeout
        # As requested, else the template's maximum concurrency up to LOCAL_POLLERS.
        self.pollers = pollers or min(spec.max_concurrency or LOCAL_POLLERS, LOCAL_POLLERS)
        self.dynamodb = DynamoDBLocal()
        self.sqs = LocalSQS()
        self.resources: LocalResources | None = None
        self._exit = ExitStack()

    @property
    def batching_window(self) -> float:
        """The template's batching window, shrunk by the same factor as the visibility timeout."""
        return self.spec.max_batching_window_seconds * self.visibility_timeout / self.spec.queue.visibility_timeout

    def time_scale_line(self) -> str:
        return (
            f"Time scale: visibility timeout {self.spec.queue.visibility_timeout} s -> {self.visibility_timeout} s, "
            f"batching window {self.spec.max_batching_window_seconds} s -> {self.batching_window:.2f} s "
            f"(a bad message reaches the DLQ after {self.spec.max_receive_count} receives in seconds, not minutes)"
        )

    def __enter__(self) -> LocalPipeline:
        with ExitStack() as starting:
            starting.callback(self.dynamodb.stop)
            starting.callback(self.sqs.stop)
            # The JVM's start-up and moto's import overlap.
            with ThreadPoolExecutor(max_workers=1) as starter:
                dynamodb_started = starter.submit(self.dynamodb.start)
                self.sqs.start()
                result_of(dynamodb_started)
            self.resources = create_local_resources(
                self.spec, self.sqs.client(), self.dynamodb.client(), self.visibility_timeout, self.sqs.events_client()
            )
            self._exit = starting.pop_all()
        return self

    def __exit__(self, *exc_info) -> None:
        self._exit.close()

    def local_target(self, pid: int) -> LocalTarget:
        """Where the operator commands (`--local`) in other processes find the engines, queues and tables."""
        status_events = self.resources.status_events
        return LocalTarget(
            # moto's server answers EventBridge on the SQS endpoint.
            endpoints={engine.service: engine.endpoint_url for engine in (self.sqs, self.dynamodb)}
            | {"events": self.sqs.endpoint_url},
            region=LOCAL_REGION,
            credentials=dict(LOCAL_CREDENTIALS),
            queue_url=self.resources.queue_url,
            dead_letter_queue_url=self.resources.dead_letter_queue_url,
            tables=dict(self.resources.tables),
            history_table=self.resources.history_table or "",
            pid=pid,
            bus_name=status_events.bus_name if status_events else "",
            alert_queue_url=status_events.alerts_queue_url if status_events else "",
            alert_statuses=sorted(alerted_statuses(self.spec.status_events.rules)) if self.spec.status_events else [],
        )

    def processor(self) -> BatchProcessor:
        """The processor configured as on Lambda (from the template's environment), on the local tables."""
        return BatchProcessor.from_environment(
            processor_environment(self.spec, self.resources), self.dynamodb.client(**CLIENT_OPTIONS)
        )

    @contextmanager
    def processing(self, handler: Callable | None = None) -> Iterator[SqsEventSource]:
        """`handler` (default: the processor's) behind the pollers, with the template's event source settings."""
        window = self.batching_window
        source = SqsEventSource(
            self.sqs.client(),
            self.resources.queue_url,
            self.resources.queue_arn,
            handler or self.processor().handle,
            batch_size=self.spec.batch_size,
            batching_window=window,
            pollers=self.pollers,
            report_batch_item_failures=self.spec.report_batch_item_failures,
            # A handler must finish before its first messages become visible again.
            timeout_seconds=self.resources.visibility_timeout - window,
        )
        with source:
            yield source

    def publisher(self) -> StatusEventPublisher:
        """The publisher configured as on Lambda (the template's environment), on the local bus."""
        assert self.spec.status_events is not None and self.resources and self.resources.status_events
        environment = {**self.spec.status_events.environment, EVENT_BUS_VARIABLE: self.resources.status_events.bus_name}
        return StatusEventPublisher.from_environment(environment, self.sqs.events_client())

    @contextmanager
    def publishing(self, handler: Callable | None = None) -> Iterator[StreamEventSource]:
        """`handler` (default: the publisher's) behind stream pollers, with the template's mapping settings."""
        assert self.spec.status_events is not None and self.resources and self.resources.status_events
        local = self.resources.status_events
        sqs = self.sqs.client()

        def describe_failure(batch: dict) -> None:
            sqs.send_message(QueueUrl=local.failure_queue_url, MessageBody=json.dumps(batch))

        source = StreamEventSource(
            local_client("dynamodbstreams", self.dynamodb.endpoint_url),
            local.stream_arns,
            handler or self.publisher().handle,
            batch_size=self.spec.status_events.batch_size,
            retry_attempts=self.spec.status_events.retry_attempts,
            report_batch_item_failures=self.spec.status_events.report_batch_item_failures,
            on_failure=describe_failure,
            region=LOCAL_REGION,
        )
        with source:
            yield source
