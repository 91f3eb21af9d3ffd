"""Failing workers: the check on the history's stream, its counting state, and its alert rule."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from farm_health import SOURCE, WORKER_FAILING_TYPE
from farm_health.failures import FILTER_PATTERN
from farm_health.monitor import JOB_TABLE_VARIABLE, JOBS_VARIABLE, MINUTES_VARIABLE, STATE_TABLE_VARIABLE
from farm_health.state import ENTRY, EXPIRY, WORKER
from stacks.constructs import escape_hatch
from stacks.constructs.alerts import TopicMessage
from stacks.constructs.functions import own_function
from stacks.constructs.streams import (
    STREAM_CONSUMER_FAILURES,
    consumer_alarms,
    failure_queue,
    grant_stream_reads,
    stream_mapping,
)
from stacks.constructs.tables import acknowledge_backups, durable_table_settings
from stacks.roles import FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID, FARM_HEALTH_HANDLER, WORKER_FAILURE_TABLE_LOGICAL_ID
from status_events.publisher import EVENT_BUS_VARIABLE, STUDIO_VARIABLE

FARM_HEALTH_TIMEOUT = Duration.seconds(30)
FARM_HEALTH_MEMORY_MB = 128
# Failures are few (the filter passes only failed tasks): small batches keep a retry small.
FARM_HEALTH_BATCH_SIZE = 25
# What the function does with its state (a TransactWriteItems of Puts needs PutItem), and with the job table.
STATE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem")
JOB_NAME_ACTIONS = ("dynamodb:BatchGetItem",)
# EventBridge input paths of the event: one readable line on the alarm topic.
ALERT_TEXT = (
    f"Deadline worker {events.EventField.from_path('$.detail.workerName')} is failing tasks "
    f"(studio {events.EventField.from_path('$.detail.studio')}): {events.EventField.from_path('$.detail.summary')}"
)


class FarmHealth(Construct):
    """Puts a `Deadline Worker Failing Tasks` event on ``bus`` when a worker fails tasks of
    ``failing_worker_jobs`` distinct jobs within ``failing_worker_minutes`` (lambda_src/farm_health).

    Its source is ``history_table``'s stream (NEW_IMAGE), the only one that sees every
    distinct notification, stale ones included; Lambda's event filter passes only INSERTs
    of failed tasks, so the function runs per failure batch, not per notification. The
    mapping reads from the stream's start, with partial batch responses, bisection on
    errors and bounded retries; a batch it gives up on is described in ``failure_queue``
    (SQS-managed encryption, TLS-only). The counting state is ``table``
    (``state_table_name``, keyed by worker and entry: farm_health/state.py): on demand, point-in-time recovery, encrypted with ``key`` when
    given, else the AWS managed key, with ``removal_policy`` and ``deletion_protection``
    like the notification tables; TTL on ``expires_at`` only tidies it.

    Security: the function's own role reads only the history's stream, reads and writes
    only its state table's items, reads job names from ``job_table`` (BatchGetItem, no
    write), and puts events on ``bus`` only. ``alarms``: anything in the failure queue,
    and the check falling behind its stream by more than ``late_threshold``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        history_table: dynamodb.ITable,
        job_table: dynamodb.ITable,
        bus: events.IEventBus,
        studio_name: str,
        failing_worker_jobs: int,
        failing_worker_minutes: int,
        state_table_name: str,
        failure_queue_name: str,
        late_threshold: Duration,
        log_retention_days: int,
        key: kms.IKey | None,
        tracing: bool,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "StateTable",
            table_name=state_table_name,
            partition_key=dynamodb.Attribute(name=WORKER, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=ENTRY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=EXPIRY,
            **durable_table_settings(key=key, removal_policy=removal_policy, deletion_protection=deletion_protection),
        )
        escape_hatch(self.table).override_logical_id(WORKER_FAILURE_TABLE_LOGICAL_ID)
        acknowledge_backups(self.table)
        self.failure_queue = failure_queue(
            self,
            queue_name=failure_queue_name,
            logical_id=FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID,
            removal_policy=removal_policy,
            receives="the history stream mapping's on-failure destination and the worker alert rule's dead-letter queue",
        )

        own = own_function(
            self,
            handler=FARM_HEALTH_HANDLER,
            description="Counts failed Deadline tasks per worker from the history's stream; puts failing-worker events",
            role_description="Runs the failing-worker check: reads the history's stream, keeps its state, puts events",
            timeout=FARM_HEALTH_TIMEOUT,
            memory_size=FARM_HEALTH_MEMORY_MB,
            environment={
                STATE_TABLE_VARIABLE: self.table.table_name,
                JOB_TABLE_VARIABLE: job_table.table_name,
                EVENT_BUS_VARIABLE: bus.event_bus_name,
                STUDIO_VARIABLE: studio_name,
                JOBS_VARIABLE: str(failing_worker_jobs),
                MINUTES_VARIABLE: str(failing_worker_minutes),
            },
            log_retention_days=log_retention_days,
            key=key,
            tracing=tracing,
            failures_handled_by=STREAM_CONSUMER_FAILURES,
            removal_policy=removal_policy,
        )
        self.function = own.function
        # With customer_managed_key the stream's records, the state and the job table are all under the
        # stack's key: one kms:Decrypt covers them.
        grant_stream_reads(own, [history_table.table_stream_arn], key=key, tracing=tracing, which="history stream's ARN")
        bus.grant_put_events_to(own.role)
        self.table.grant(own.role, *STATE_ACTIONS)
        job_table.grant(own.role, *JOB_NAME_ACTIONS)
        self.mapping = stream_mapping(
            self,
            "HistoryStreamEventSource",
            function=self.function,
            stream_arn=history_table.table_stream_arn,
            batch_size=FARM_HEALTH_BATCH_SIZE,
            failures=self.failure_queue,
            filters=[lambda_.FilterCriteria.filter(FILTER_PATTERN)],
        )
        own.depend_on_role_policy()

        self.alarms = consumer_alarms(
            self,
            function=self.function,
            failures=self.failure_queue,
            late_threshold=late_threshold,
            failures_description="Task failures could not be counted, or worker alerts delivered",
            late_id="LateAlarm",
            late_description="The failing-worker check is behind the history's stream",
        )
        self._bus = bus

    def alert(self, topic: sns.ITopic) -> events.Rule:
        """A rule sending every failing-worker event to ``topic`` as one readable line (its summary)."""
        rule = events.Rule(
            self,
            "AlertRule",
            event_bus=self._bus,
            description="Deadline workers failing tasks of several jobs: to the alarm topic",
            event_pattern=events.EventPattern(source=[SOURCE], detail_type=[WORKER_FAILING_TYPE]),
        )
        rule.add_target(TopicMessage(topic, events.RuleTargetInput.from_text(ALERT_TEXT), self.failure_queue))
        return rule
