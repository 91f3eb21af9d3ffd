"""The Lambda that stores each notification from the queue in the job or task table."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import PROJECT_ROOT

LAMBDA_SOURCE = PROJECT_ROOT / "lambda_src"
# Kept out of the deployment package: only the handler's own modules ship.
LAMBDA_SOURCE_EXCLUDES = ["tests", "**/__pycache__", "**/*.pyc", ".pytest_cache", "*.md"]
HANDLER = "lambda_function.main"

# Exactly what the handler and its event source mapping use, nothing more.
QUEUE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
TABLE_ACTIONS = ("dynamodb:PutItem",)  # conditional writes; no reads, batches or updates


class NotificationProcessor(Construct):
    """The function, its own role and log group, and the SQS event source mapping."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        queue_key: kms.IKey | None,
        job_table: dynamodb.ITable,
        task_table: dynamodb.ITable,
        timeout: Duration,
        memory_size: int,
        batch_size: int,
        max_batching_window: Duration,
        max_concurrency: int,
        log_retention_days: int,
        metrics_namespace: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "LogGroup", removal_policy=removal_policy)
        # The L2 takes an enum; the config holds days, already checked against CloudWatch's list.
        self.log_group.node.default_child.retention_in_days = log_retention_days

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
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=LAMBDA_SOURCE_EXCLUDES),
            timeout=timeout,
            memory_size=memory_size,
            role=role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            environment={
                "DYNAMODB_JOB_INFO_TABLE": job_table.table_name,
                "DYNAMODB_TASK_INFO_TABLE": task_table.table_name,
                "METRICS_NAMESPACE": metrics_namespace,
            },
        )
        self.log_group.grant_write(role)
        queue.grant(role, *QUEUE_ACTIONS)
        if queue_key is not None:
            queue_key.grant(role, "kms:Decrypt")
        for table in (job_table, task_table):
            table.grant(role, *TABLE_ACTIONS)
        # CDK makes the function depend on its role, which the Role property already implies
        # (cfn-lint W3005). Only the dependency on the role's policy matters: the event source
        # mapping must not be created before the function may read the queue.
        role_policy = role.node.find_child("DefaultPolicy").node.default_child
        self.function.node.default_child.add_override("DependsOn", [Stack.of(self).get_logical_id(role_policy)])

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
