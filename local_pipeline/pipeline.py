"""The synthesized stack on the local engines, as one context manager.

`LocalPipeline(spec)` owns everything a local run needs: the spec read from
cdk.out, DynamoDB Local and local SQS, the stack's queues and tables created on
them, and the processor's pollers. Everything comes from the template except one
value, the queue's visibility timeout: on AWS it is six times the function's
timeout (minutes), which is how long a failed message waits before its next try;
locally the queue uses `visibility_timeout` seconds and the batching window shrinks
by the same factor. By default that timeout is measured, not guessed: at start-up the
processor handles a warm-up batch per poller on scratch tables, and the handler's time
limit is a generous multiple of the slowest (choose_visibility_timeout), so a busy
machine makes a run slower, never sends a valid notification to the DLQ.

With status-change events in the template, the tables stream on DynamoDB Local, the
bus and its rules exist on moto's EventBridge (same server as SQS), and `publishing()`
runs the real publisher behind local stream pollers. Two stand-ins, both queues: a
capture rule sends every event on the bus to `events_queue_url` (so they can be
counted), and the alert rules' topic is `alerts_queue_url` (moto's EventBridge cannot
deliver to SNS), with the rules' own patterns and input transformers. With failing workers,
the history streams on DynamoDB Local too, and `checking_workers()` runs the real check behind a
stream poller on it, through the template's own event filter (local_pipeline.event_filter).
"""

from __future__ import annotations

import io
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, redirect_stdout, suppress
from dataclasses import dataclass

from deadline_sqs.local_target import LocalTarget
from deadline_sqs.sending import queue_arn, queue_depth, send_bodies
from deadline_sqs.subscriptions import filter_policy
from deliveries.destinations import ARTISTS, CHAT, destinations_from_environment
from deliveries.handler import sender_from_environment
from deliveries.sender import Sender
from farm_health.monitor import JOB_TABLE_VARIABLE, STATE_TABLE_VARIABLE, FarmHealthMonitor
from local_pipeline.engines import (
    LOCAL_CREDENTIALS,
    LOCAL_REGION,
    DynamoDBLocal,
    EngineError,
    LocalSQS,
    local_client,
)
from local_pipeline.event_check import alerted_statuses
from local_pipeline.event_filter import filtered
from local_pipeline.event_source import SqsEventSource
from local_pipeline.farm import USERS
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.spec import DeliveriesSpec, PipelineSpec, RuleSpec, StatusEventsSpec
from local_pipeline.stream_source import StreamEventSource
from local_pipeline.webhooks import LocalWebhooks
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.batch import DEADLINE_MARGIN_SECONDS
from notification_processor.roles import HISTORY_TABLE_VARIABLE, JOB, TABLE_ROLES
from stacks.roles import DELIVERY_STATE_TABLE
from status_events.changes import SOURCE
from status_events.publisher import EVENT_BUS_VARIABLE, StatusEventPublisher

# The local visibility timeout is at least this (s): a bad message still reaches the DLQ in receives x 4 s.
MIN_LOCAL_VISIBILITY_TIMEOUT = 4
# The handler's local time limit is this many times its slowest warm-up batch (plus the processor's
# margin): room for what the warm-up does not do (sending, the publisher) and for load that comes later.
LOCAL_TIME_LIMIT_FACTOR = 5
# The warm-up: how long it may take at most (s), and its pollers' batching window (its messages are
# all waiting, so each batch fills at once).
WARM_UP_TIMEOUT = 300
WARM_UP_BATCHING_WINDOW = 1.0
# Rounds of one full batch per poller; only the last one is timed (the first warms DynamoDB Local's JVM up,
# as it would warm up on the first batches of the run).
WARM_UP_ROUNDS = 2
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
class LocalFarmHealth:
    stream_arn: str  # the history's
    state_table: str
    failure_queue_url: str


@dataclass(frozen=True)
class LocalDeliveries:
    """The sender's local resources: DeliveryQueue (the rules' target, as deployed), its DLQ, the state table,
    the topics on moto's SNS, and the stand-ins for who is at the other end of them: a queue per artist of
    the generated farm (subscribed with the filter policy `deadline-sqs subscribe` sets) and per chat channel
    (standing in for Amazon Q Developer's subscription)."""

    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    state_table: str
    topics: dict[str, str]  # logical id -> local topic ARN
    environment: dict[str, str]  # the sender's, naming the local topics and table
    artist_queues: dict[str, str]  # user -> queue URL
    chat_queues: dict[str, str]  # channel (destination name) -> queue URL
    statuses: list[str]  # the job statuses the artists' rule lets through


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
    farm_health: LocalFarmHealth | None = None
    deliveries: LocalDeliveries | None = None


CAPTURE_RULE = "local-capture-every-event"


def choose_visibility_timeout(slowest_batch_seconds: float, spec: PipelineSpec) -> int:
    """The local queue's visibility timeout, in whole seconds, for a handler whose slowest batch took this long.

    The handler's time limit is the visibility timeout less the batching window (which scales with
    it), and the processor keeps DEADLINE_MARGIN_SECONDS of that back: what is left must hold
    LOCAL_TIME_LIMIT_FACTOR such batches. Never below MIN_LOCAL_VISIBILITY_TIMEOUT.
    """
    window_share = spec.max_batching_window_seconds / spec.queue.visibility_timeout
    needed = (DEADLINE_MARGIN_SECONDS + LOCAL_TIME_LIMIT_FACTOR * slowest_batch_seconds) / (1 - window_share)
    return max(MIN_LOCAL_VISIBILITY_TIMEOUT, math.ceil(needed))


def warm_up_bodies(count: int) -> list[str]:
    """`count` valid notification bodies of a generated farm, in the order Deadline sent them."""
    jobs = count // 20 + 1  # a job of about 25 tasks sends about 40 notifications
    while len(messages := generate(TrafficSettings(seed=0, jobs=jobs, tasks_per_job=25)).messages) < count:
        jobs *= 2
    return [message.body for message in messages[:count]]


def create_local_resources(
    spec: PipelineSpec, sqs, dynamodb, visibility_timeout: int, events=None, sns=None
) -> LocalResources:
    """Create the DLQ, the queue (with its redrive policy), the tables (with their streams) and, given
    an EventBridge client and a template with status-change events, the bus and its rules (and, given an
    SNS client and a template with the sender, its queues, topics and stand-in subscribers)."""
    dlq = spec.dead_letter_queue
    dlq_url = _fresh_queue(sqs, dlq.name, {"MessageRetentionPeriod": str(dlq.retention_seconds)})
    dlq_arn = queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    queue_url = _fresh_queue(
        sqs,
        spec.queue.name,
        {
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(spec.queue.retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )
    for table in spec.all_tables:
        dynamodb.create_table(**table.create_table_kwargs())
    waiter = dynamodb.get_waiter("table_exists")
    for table in spec.all_tables:
        waiter.wait(TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    status_events = deliveries = None
    if spec.status_events is not None and events is not None:
        if spec.deliveries is not None and sns is not None:
            deliveries = create_local_deliveries(spec, sqs, sns, visibility_timeout)
        streams = [dynamodb.describe_table(TableName=t.name)["Table"]["LatestStreamArn"] for t in spec.tables.values()]
        status_events = create_local_bus(spec.status_events, streams, sqs, events, deliveries)
    farm_health = None
    if spec.farm_health is not None and spec.history_table is not None and status_events is not None:
        stream = dynamodb.describe_table(TableName=spec.history_table.name)["Table"]["LatestStreamArn"]
        failures_url = _fresh_queue(sqs, spec.farm_health.failure_queue.name, {})
        farm_health = LocalFarmHealth(stream, spec.farm_health.state_table.name, failures_url)
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
        farm_health=farm_health,
        deliveries=deliveries,
    )


def _fresh_queue(sqs, name: str, attributes: dict[str, str]) -> str:
    """An empty queue with these attributes. moto's state belongs to the process: an earlier local
    stack in it (the tests run several) may have left the queue, with other attributes."""
    try:
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        drain(sqs, url)  # PurgeQueue allows one call a minute
        return url


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


def create_local_bus(
    spec: StatusEventsSpec, stream_arns: list[str], sqs, events, deliveries: LocalDeliveries | None = None
) -> LocalStatusEvents:
    """The bus, the failure queue, the template's rules (the job alerts' to the alerts stand-in, the
    destinations' to DeliveryQueue with their own input templates) and the capture rule.

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
        if rule.target_kind == "sqs" and deliveries is None:
            continue  # a destination's rule, without the sender locally
        if rule.target_kind == "events":
            continue  # a webhook's API destination: local_pipeline.webhooks' stand-in has the rule
        arn = deliveries.queue_arn if rule.target_kind == "sqs" and deliveries else alerts_arn
        target = {"Arn": arn} | ({"InputTransformer": rule.input_transformer} if rule.input_transformer else {})
        rules.append((rule.logical_id, rule.event_pattern, target))
    for name, pattern, target in rules:
        events.put_rule(Name=name, EventBusName=spec.bus_name, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=name, EventBusName=spec.bus_name, Targets=[{"Id": "local", **target}])
    return LocalStatusEvents(spec.bus_name, stream_arns, failures_url, events_url, alerts_url)


def create_local_deliveries(spec: PipelineSpec, sqs, sns, visibility_timeout: int) -> LocalDeliveries:
    """DeliveryQueue and its DLQ, the template's topics on moto's SNS, and their stand-in subscribers.

    moto's SNS applies filter policies to SQS subscriptions and MessageStructure json's "sqs" body
    (tests/integration/test_local_moto_deliveries.py probes both), so no stand-in evaluates them."""
    deliveries: DeliveriesSpec = spec.deliveries  # type: ignore[assignment]
    dlq_url = _fresh_queue(sqs, deliveries.dead_letter_queue.name, {})
    redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": deliveries.max_receive_count}
    queue_url = _fresh_queue(
        sqs,
        deliveries.queue.name,
        {"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
    )
    topics = {logical_id: sns.create_topic(Name=name)["TopicArn"] for logical_id, name in deliveries.topics.items()}
    names = topics | {DELIVERY_STATE_TABLE.logical_id: deliveries.state_table.name}
    environment = {name: resolve_references(value, names) for name, value in deliveries.environment.items()}
    destinations = destinations_from_environment(environment)
    artists_rule = destination_rule(spec, ARTISTS)
    statuses = artists_rule.event_pattern["detail"].get("status", []) if artists_rule else []

    def subscriber(name: str, topic_arn: str, policy: dict | None = None) -> str:
        url = _fresh_queue(sqs, f"{deliveries.queue.name}-local-{name}", {})
        attributes = {"RawMessageDelivery": "true"} | ({"FilterPolicy": json.dumps(policy)} if policy else {})
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(sqs, url), Attributes=attributes)
        return url

    artists = destinations.get(ARTISTS)
    artist_queues = {
        user: subscriber(f"artist-{user}", artists.target, filter_policy(user, statuses)) for user in USERS
    } if artists else {}  # fmt: skip
    chat_queues = {
        each.name: subscriber(f"chat-{each.name}", each.target) for each in destinations.values() if each.kind == CHAT
    }
    return LocalDeliveries(
        queue_url, queue_arn(sqs, queue_url), dlq_url, deliveries.state_table.name, topics, environment,
        artist_queues, chat_queues, list(statuses),
    )  # fmt: skip


def destination_rule(spec: PipelineSpec, destination: str) -> RuleSpec | None:
    """The destination's rule: the one whose input template names it."""
    rules = spec.status_events.delivery_rules if spec.status_events else []
    named = f'"destination": "{destination}"'
    return next((rule for rule in rules if named in (rule.input_transformer or {}).get("InputTemplate", "")), None)


def resolve_references(value, arns: dict[str, str]) -> str:
    """A template's variable value as text: a literal, or an Fn::Join whose Refs name local resources."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and list(value) == ["Ref"] and value["Ref"] in arns:
        return arns[value["Ref"]]
    if isinstance(value, dict) and list(value) == ["Fn::Join"]:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve_references(part, arns) for part in parts)
    raise EngineError(f"the local pipeline cannot resolve {value!r}: it names no local resource")


def processor_environment(spec: PipelineSpec, resources: LocalResources) -> dict[str, str]:
    """The function's environment from the template, naming the local tables."""
    return _environment_naming(spec, resources.tables, resources.history_table)


def _environment_naming(spec: PipelineSpec, tables: dict[str, str], history_table: str | None) -> dict[str, str]:
    return {
        **spec.environment,
        **{TABLE_ROLES[kind].environment_variable: name for kind, name in tables.items()},
        **({HISTORY_TABLE_VARIABLE: history_table} if history_table else {}),
    }


class LocalPipeline:
    """The stack's queues and tables on local engines, and the real processor behind local pollers.

    As a context manager: both engines start (in parallel), the time scale is measured (unless
    `visibility_timeout` is given) and the resources are created on entry; pollers, if started,
    and the engines are stopped on exit, whatever happens, an interrupt during start-up included.
    """

    def __init__(self, spec: PipelineSpec, visibility_timeout: int | None = None, pollers: int | None = None):
        self.spec = spec
        self.visibility_timeout = visibility_timeout  # None until measured on entry
        self.slowest_warm_up_batch: float | None = None  # seconds; None: not measured (a timeout was given)
        # As requested, else the template's maximum concurrency up to LOCAL_POLLERS.
        self.pollers = pollers or min(spec.max_concurrency or LOCAL_POLLERS, LOCAL_POLLERS)
        self.dynamodb = DynamoDBLocal()
        self.sqs = LocalSQS()
        self.resources: LocalResources | None = None
        self.webhooks: LocalWebhooks | None = None  # the webhooks' receiver and stand-in, with webhooks in the template
        self._exit = ExitStack()

    @property
    def batching_window(self) -> float:
        """The template's batching window, shrunk by the same factor as the visibility timeout."""
        assert self.visibility_timeout is not None, "measured on entry"
        return self.spec.max_batching_window_seconds * self.visibility_timeout / self.spec.queue.visibility_timeout

    def time_scale_line(self) -> str:
        measured = (
            f"; measured: the slowest of {self.pollers} concurrent warm-up batches of {self.spec.batch_size} took "
            f"{self.slowest_warm_up_batch:.2f} s, the handler gets {LOCAL_TIME_LIMIT_FACTOR}x that plus its "
            f"{DEADLINE_MARGIN_SECONDS:.0f} s margin, at least {MIN_LOCAL_VISIBILITY_TIMEOUT} s"
            if self.slowest_warm_up_batch is not None
            else ""
        )
        return (
            f"Time scale: visibility timeout {self.spec.queue.visibility_timeout} s -> {self.visibility_timeout} s, "
            f"batching window {self.spec.max_batching_window_seconds} s -> {self.batching_window:.2f} s "
            f"(a bad message reaches the DLQ after {self.spec.max_receive_count} receives in seconds, not minutes"
            f"{measured})"
        )

    def __enter__(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:  # an error, or an interrupt: `with` calls no __exit__ when __enter__ raises
            self._exit.close()
            raise
        return self

    def _start(self) -> None:
        # Each stop is registered before its start, so an interrupt at any moment finds it.
        starter = ThreadPoolExecutor(max_workers=1)
        self._exit.callback(starter.shutdown)  # last: joins the start thread, which the stop has cut short
        self._exit.callback(self.sqs.stop)
        self._exit.callback(self.dynamodb.stop)
        # The JVM's start-up and moto's import overlap.
        dynamodb_started = starter.submit(self.dynamodb.start)
        self.sqs.start()
        result_of(dynamodb_started)
        sqs, dynamodb = self.sqs.client(), self.dynamodb.client()
        if self.visibility_timeout is None:
            self.slowest_warm_up_batch = self._slowest_warm_up_batch(sqs, dynamodb)
            self.visibility_timeout = choose_visibility_timeout(self.slowest_warm_up_batch, self.spec)
        self.resources = create_local_resources(
            self.spec, sqs, dynamodb, self.visibility_timeout, self.sqs.events_client(), self.sqs.sns_client()
        )
        if self.spec.webhooks and self.resources.deliveries and self.resources.status_events:
            local = LocalWebhooks(
                self.spec.webhooks, endpoint_url=self.sqs.endpoint_url, bus_name=self.resources.status_events.bus_name
            )
            self.webhooks = self._exit.enter_context(local)  # stopped before the engines

    def _slowest_warm_up_batch(self, sqs, dynamodb) -> float:
        """Seconds the slowest handler invocation took, of one full batch per poller, all at once,
        on scratch copies of the stack's tables and queue (deleted afterwards)."""
        suffix = f"-warm-up-{uuid.uuid4().hex[:8]}"
        scratch = {table.name: table.name + suffix for table in self.spec.all_tables}
        for table in self.spec.all_tables:
            dynamodb.create_table(**table.create_table_kwargs(scratch[table.name]))
        waiter = dynamodb.get_waiter("table_exists")
        for name in scratch.values():
            waiter.wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        history = self.spec.history_table
        environment = _environment_naming(
            self.spec,
            {kind: scratch[table.name] for kind, table in self.spec.tables.items()},
            scratch[history.name] if history else None,
        )
        processor = BatchProcessor.from_environment(environment, self.dynamodb.client(**CLIENT_OPTIONS))
        durations: list[float] = []

        def timed(event, context):
            started = time.monotonic()
            try:
                return processor.handle(event, context)
            finally:
                durations.append(time.monotonic() - started)

        queue_url = sqs.create_queue(QueueName=self.spec.queue.name + suffix)["QueueUrl"]
        per_round = self.pollers * self.spec.batch_size
        bodies = warm_up_bodies(WARM_UP_ROUNDS * per_round)
        source = SqsEventSource(
            sqs, queue_url, queue_arn(sqs, queue_url), timed, batch_size=self.spec.batch_size,
            batching_window=WARM_UP_BATCHING_WINDOW, pollers=self.pollers, timeout_seconds=WARM_UP_TIMEOUT,
        )  # fmt: skip
        deadline = time.monotonic() + WARM_UP_TIMEOUT
        with source, redirect_stdout(io.StringIO()):  # the processor's log lines of the warm-up are no news
            for start in range(0, len(bodies), per_round):
                durations.clear()  # the last round counts
                send_bodies(sqs, queue_url, bodies[start : start + per_round])
                while queue_depth(sqs, queue_url):
                    if time.monotonic() > deadline:
                        raise EngineError(
                            f"the processor's warm-up ({len(bodies)} notifications) did not finish within "
                            f"{WARM_UP_TIMEOUT} s: is the machine overloaded? (--visibility-timeout skips the warm-up)"
                        )
                    time.sleep(0.1)
        # Only on success: otherwise the engines, in memory, are stopped with everything on them.
        sqs.delete_queue(QueueUrl=queue_url)
        for name in scratch.values():
            dynamodb.delete_table(TableName=name)
        return max(durations)

    def __exit__(self, *exc_info) -> None:
        self._exit.close()

    def local_target(self, pid: int) -> LocalTarget:
        """Where the operator commands (`--local`) in other processes find the engines, queues and tables."""
        status_events, deliveries = self.resources.status_events, self.resources.deliveries
        return LocalTarget(
            # moto's server answers EventBridge on the SQS endpoint.
            endpoints={engine.service: engine.endpoint_url for engine in (self.sqs, self.dynamodb)}
            | {"events": self.sqs.endpoint_url, "sns": self.sqs.endpoint_url},
            region=LOCAL_REGION,
            credentials=dict(LOCAL_CREDENTIALS),
            queue_url=self.resources.queue_url,
            dead_letter_queue_url=self.resources.dead_letter_queue_url,
            tables=dict(self.resources.tables),
            history_table=self.resources.history_table or "",
            pid=pid,
            bus_name=status_events.bus_name if status_events else "",
            alert_queue_url=status_events.alerts_queue_url if status_events else "",
            alert_statuses=sorted(alerted_statuses(self.spec.status_events.alert_rules)) if self.spec.status_events else [],
            job_notification_topic_arn=self._job_notification_topic(),
            job_notification_statuses=deliveries.statuses if deliveries else [],
        )

    def _job_notification_topic(self) -> str:
        deliveries = self.resources.deliveries
        artists = destinations_from_environment(deliveries.environment).get(ARTISTS) if deliveries else None
        return artists.target if artists else ""

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

    def sender(self) -> Sender:
        """The sender configured as on Lambda (the template's environment), on the local queue, table and topics."""
        assert self.resources and self.resources.deliveries
        environment = self.resources.deliveries.environment
        return sender_from_environment(
            self.webhooks.sender_environment(environment) if self.webhooks else environment,
            dynamodb=self.dynamodb.client(**CLIENT_OPTIONS),
            sns=local_client("sns", self.sqs.endpoint_url),
            webhook_poster=self.webhooks.poster() if self.webhooks else None,
        )

    @contextmanager
    def delivering(self, handler: Callable | None = None) -> Iterator[SqsEventSource]:
        """`handler` (default: the sender's) behind one poller on DeliveryQueue, with the template's batch size.

        One poller, not the template's two: locally the changes of one job must reach the sender in order for
        the demo's exact counts (on AWS an older change the sender meets after a newer one is dropped, by design)."""
        assert self.spec.deliveries and self.resources and self.resources.deliveries
        local = self.resources.deliveries
        source = SqsEventSource(
            self.sqs.client(),
            local.queue_url,
            local.queue_arn,
            handler or self.sender().handle,
            batch_size=self.spec.deliveries.batch_size,
            batching_window=0,
            pollers=1,
            report_batch_item_failures=self.spec.deliveries.report_batch_item_failures,
            timeout_seconds=self.resources.visibility_timeout,
        )
        with source:
            yield source

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

    def farm_health_monitor(self) -> FarmHealthMonitor:
        """The failing-worker check configured as on Lambda (the template's environment), on the local tables and bus."""
        assert self.spec.farm_health is not None and self.resources and self.resources.farm_health
        local = self.resources.farm_health
        environment = {
            **self.spec.farm_health.environment,
            STATE_TABLE_VARIABLE: local.state_table,
            JOB_TABLE_VARIABLE: self.resources.tables[JOB],
            EVENT_BUS_VARIABLE: self.resources.status_events.bus_name,
        }
        return FarmHealthMonitor.from_environment(environment, self.dynamodb.client(), self.sqs.events_client())

    @contextmanager
    def checking_workers(self, handler: Callable | None = None) -> Iterator[StreamEventSource]:
        """`handler` (default: the check's) behind a poller on the history's stream, with the template's mapping
        settings and event filter."""
        assert self.spec.farm_health is not None and self.resources and self.resources.farm_health
        local, spec = self.resources.farm_health, self.spec.farm_health
        sqs = self.sqs.client()

        def describe_failure(batch: dict) -> None:
            sqs.send_message(QueueUrl=local.failure_queue_url, MessageBody=json.dumps(batch))

        source = StreamEventSource(
            local_client("dynamodbstreams", self.dynamodb.endpoint_url),
            [local.stream_arn],
            filtered(handler or self.farm_health_monitor().handle, spec.filter_patterns),
            batch_size=spec.batch_size,
            retry_attempts=spec.retry_attempts,
            report_batch_item_failures=spec.report_batch_item_failures,
            on_failure=describe_failure,
            function_name="local-farm-health",
            region=LOCAL_REGION,
        )
        with source:
            yield source
