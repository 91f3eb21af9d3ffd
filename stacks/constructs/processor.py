"""The Lambda that stores each notification from the queue in the job or task table (and the history)."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from notification_processor.batch import MAX_TIMESTAMP_AHEAD_VARIABLE, METRICS_NAMESPACE_VARIABLE
from notification_processor.roles import HISTORY_DAYS_VARIABLE, HISTORY_TABLE_VARIABLE, TABLE_ROLES
from stacks.constructs.functions import own_function, queue_event_source
from stacks.roles import PROCESSOR_HANDLER

# Exactly what the handler and its event source mapping use, nothing more.
QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# Conditional writes (PutItem, and the PartiQL INSERT and UPDATE statements of
# BatchExecuteStatement), and once per container the tables' key schemas; no reads or deletes.
TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:DescribeTable")
# Conditional inserts (INSERT statements, and PutItem where a statement cannot settle one): a duplicate is written once.
HISTORY_ACTIONS = ("dynamodb:PutItem", "dynamodb:PartiQLInsert")
SQS_FAILURES = (
    "Invoked only by its SQS event source mapping: a failed message stays in the queue and moves to the "
    "queue's dead-letter queue after max_receive_count receives; a function DLQ only catches asynchronous "
    "invocations, which this function never gets"
)


class NotificationProcessor(Construct):
    """The function, its own role and log group, and the SQS event source mapping.

    With ``history_table``, the function also records every distinct notification there,
    each kept ``history_days``. ``key``, the stack's customer managed key if any, encrypts
    the log group; the function may decrypt with it, which reading the queue's messages and
    writing the tables (encrypted with it) need.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        key: kms.IKey | None,
        tables: Mapping[str, dynamodb.ITable],
        history_table: dynamodb.ITable | None,
        history_days: int,
        timeout: Duration,
        memory_size: int,
        batch_size: int,
        max_batching_window: Duration,
        max_concurrency: int,
        max_timestamp_ahead_seconds: int,
        log_retention_days: int,
        metrics_namespace: str,
        tracing: bool,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = {
            **{TABLE_ROLES[kind].environment_variable: table.table_name for kind, table in tables.items()},
            METRICS_NAMESPACE_VARIABLE: metrics_namespace,
            MAX_TIMESTAMP_AHEAD_VARIABLE: str(max_timestamp_ahead_seconds),
        }
        if history_table is not None:
            environment |= {HISTORY_TABLE_VARIABLE: history_table.table_name, HISTORY_DAYS_VARIABLE: str(history_days)}
        own = own_function(
            self,
            handler=PROCESSOR_HANDLER,
            description="Stores Deadline job and task notifications from SQS in DynamoDB",
            role_description="Runs the Deadline notification processor: reads its queue, writes its tables",
            timeout=timeout,
            memory_size=memory_size,
            environment=environment,
            log_retention_days=log_retention_days,
            key=key,
            tracing=tracing,
            failures_handled_by=SQS_FAILURES,
            removal_policy=removal_policy,
        )
        self.function, self.log_group = own.function, own.log_group
        queue.grant(own.role, *QUEUE_ACTIONS)
        if key is not None:
            # To read the queue's messages, and to write the tables: DynamoDB decrypts each table's key as
            # its caller (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS"), not on a grant of its own.
            key.grant(own.role, "kms:Decrypt")
        for table in tables.values():
            table.grant(own.role, *TABLE_ACTIONS)
        if history_table is not None:
            history_table.grant(own.role, *HISTORY_ACTIONS)
        own.depend_on_role_policy()

        self.event_source_mapping = queue_event_source(
            self,
            "QueueEventSource",
            function=self.function,
            queue_arn=queue.queue_arn,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
        )
