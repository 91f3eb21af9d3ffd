"""The Lambda that stores each notification from the queue in the job or task table."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from notification_processor.batch import MAX_TIMESTAMP_AHEAD_VARIABLE, METRICS_NAMESPACE_VARIABLE
from notification_processor.roles import TABLE_ROLES
from stacks.config import PROJECT_ROOT
from stacks.constructs import escape_hatch
from stacks.roles import PROCESSOR_HANDLER

LAMBDA_SOURCE = PROJECT_ROOT / "lambda_src"
# Kept out of the deployment package: only the handler's own modules ship.
LAMBDA_SOURCE_EXCLUDES = ["tests", "**/__pycache__", "**/*.pyc", ".pytest_cache", "*.md"]

# Exactly what the handler and its event source mapping use, nothing more.
QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
# Conditional writes (PutItem, and the PartiQL INSERT and UPDATE statements of
# BatchExecuteStatement), and once per container the tables' key schemas; no reads or deletes.
TABLE_ACTIONS = ("dynamodb:PutItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:DescribeTable")


class NotificationProcessor(Construct):
    """The function, its own role and log group, and the SQS event source mapping."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        queue_key: kms.IKey | None,
        tables: Mapping[str, dynamodb.ITable],
        timeout: Duration,
        memory_size: int,
        batch_size: int,
        max_batching_window: Duration,
        max_concurrency: int,
        max_timestamp_ahead_seconds: int,
        log_retention_days: int,
        metrics_namespace: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "LogGroup", removal_policy=removal_policy)
        # The L2 takes an enum; the config holds days, already checked against CloudWatch's list.
        escape_hatch(self.log_group).add_property_override("RetentionInDays", log_retention_days)

        # Its own role: no AWS managed policy, so no logs:CreateLogGroup on every group.
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runs the Deadline notification processor: reads its queue, writes its two tables",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="Stores Deadline job and task notifications from SQS in DynamoDB",
            runtime=lambda_.Runtime.PYTHON_3_14,
            architecture=lambda_.Architecture.ARM_64,
            handler=PROCESSOR_HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=LAMBDA_SOURCE_EXCLUDES),
            timeout=timeout,
            memory_size=memory_size,
            role=role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            environment={
                **{TABLE_ROLES[kind].environment_variable: table.table_name for kind, table in tables.items()},
                METRICS_NAMESPACE_VARIABLE: metrics_namespace,
                MAX_TIMESTAMP_AHEAD_VARIABLE: str(max_timestamp_ahead_seconds),
            },
        )
        self.log_group.grant_write(role)
        queue.grant(role, *QUEUE_ACTIONS)
        if queue_key is not None:
            queue_key.grant(role, "kms:Decrypt")
        for table in tables.values():
            table.grant(role, *TABLE_ACTIONS)
        # CDK makes the function depend on its role, which the Role property already implies
        # (cfn-lint W3005). Only the dependency on the role's policy matters: the event source
        # mapping must not be created before the function may read the queue.
        role_policy = escape_hatch(role.node.find_child("DefaultPolicy"))
        escape_hatch(self.function).add_override("DependsOn", [Stack.of(self).get_logical_id(role_policy)])

        # A mapping rather than SqsEventSource: that one also grants ChangeMessageVisibility
        # and GetQueueUrl, which the handler never uses.
        self.event_source_mapping = lambda_.EventSourceMapping(
            self,
            "QueueEventSource",
            target=self.function,
            event_source_arn=queue.queue_arn,
            batch_size=batch_size,
            max_batching_window=max_batching_window,
            max_concurrency=max_concurrency,
            report_batch_item_failures=True,
        )
