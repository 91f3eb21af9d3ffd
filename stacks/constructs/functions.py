"""What the stack's two functions share: the code asset, the runtime, their own role and log group,
optional tracing and encryption, and the compliance findings that apply to both."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import PROJECT_ROOT
from stacks.constructs import acknowledge, escape_hatch
from stacks.roles import PROCESSOR_RUNTIME

LAMBDA_SOURCE = PROJECT_ROOT / "lambda_src"
# Kept out of the deployment package: only the handlers' own modules ship.
LAMBDA_SOURCE_EXCLUDES = ["tests", "**/__pycache__", "**/*.pyc", ".pytest_cache", "*.md"]


@dataclass(frozen=True)
class OwnFunction:
    function: lambda_.Function
    role: iam.Role
    log_group: logs.LogGroup

    def depend_on_role_policy(self) -> None:
        """Call after the last grant. CDK makes the function depend on its role, which the Role
        property already implies (cfn-lint W3005); only the dependency on the role's policy
        matters: an event source mapping must not be created before the function may read its source."""
        role_policy = escape_hatch(self.role.node.find_child("DefaultPolicy"))
        escape_hatch(self.function).add_override("DependsOn", [Stack.of(self.function).get_logical_id(role_policy)])


def own_function(
    scope: Construct,
    *,
    handler: str,
    description: str,
    role_description: str,
    timeout: Duration,
    memory_size: int,
    environment: Mapping[str, str],
    log_retention_days: int,
    key: kms.IKey | None,
    tracing: bool,
    failures_handled_by: str,
    removal_policy: RemovalPolicy,
) -> OwnFunction:
    """A function from lambda_src/ with its own log group (JSON logs, encrypted with `key` when given)
    and its own role (no managed policy, so no logs:CreateLogGroup on every group), as children
    "LogGroup", "Role" and "Function" of `scope`. `failures_handled_by` says where a failed
    invocation's input goes instead of a function dead-letter queue."""
    log_group = logs.LogGroup(scope, "LogGroup", encryption_key=key, removal_policy=removal_policy)
    # The L2 takes an enum; the config holds days, already checked against CloudWatch's list.
    escape_hatch(log_group).add_property_override("RetentionInDays", log_retention_days)
    role = iam.Role(
        scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=role_description
    )
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=lambda_.Runtime(PROCESSOR_RUNTIME, lambda_.RuntimeFamily.PYTHON),
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=LAMBDA_SOURCE_EXCLUDES),
        timeout=timeout,
        memory_size=memory_size,
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        # Active tracing records Lambda's own segments; the handlers load no X-Ray SDK.
        tracing=lambda_.Tracing.ACTIVE if tracing else None,
        environment=dict(environment),
    )
    log_group.grant_write(role)
    _acknowledge_findings(function, role, log_group, key=key, tracing=tracing, failures_handled_by=failures_handled_by)
    return OwnFunction(function, role, log_group)


def queue_event_source(
    scope: Construct,
    construct_id: str,
    *,
    function: lambda_.IFunction,
    queue_arn: str,
    batch_size: int,
    max_concurrency: int,
    max_batching_window: Duration | None = None,
) -> lambda_.EventSourceMapping:
    """An SQS event source mapping with partial batch responses; failed messages go by the queue's redrive policy.

    A mapping rather than SqsEventSource: that one also grants ChangeMessageVisibility and GetQueueUrl,
    which the handlers never use."""
    mapping = lambda_.EventSourceMapping(
        scope,
        construct_id,
        target=function,
        event_source_arn=queue_arn,
        batch_size=batch_size,
        max_batching_window=max_batching_window,
        max_concurrency=max_concurrency,
        report_batch_item_failures=True,
    )
    acknowledge(
        mapping,
        {"Serverless::Serverless-LambdaEventSourceMappingDestination": (
            "On-failure destinations are for stream and Kafka sources; for an SQS source the queue's redrive "
            "policy to its dead-letter queue is the failure destination"
        )},
    )
    return mapping


def _acknowledge_findings(
    function: lambda_.Function, role: iam.Role, log_group: logs.LogGroup, *, key: kms.IKey | None, tracing: bool,
    failures_handled_by: str,
) -> None:
    acknowledge(
        function,
        {
            "NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ": failures_handled_by,
            "Serverless::Serverless-LambdaDLQ": failures_handled_by,
            "NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC": (
                "The function reaches only AWS services (SQS, DynamoDB, EventBridge, CloudWatch) through their "
                "public endpoints with IAM and TLS: it has nothing private to reach, and a VPC would add NAT or "
                "endpoint costs"
            ),
            "NIST.800.53.R5::NIST.800.53.R5-LambdaConcurrency": (
                "Its event source mappings bound its concurrency (the SQS mapping's MaximumConcurrency, one "
                "invocation per stream shard); reserved concurrency would take from the account's pool"
            ),
        },
    )
    acknowledge(
        role,
        {"NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy": (
            "The function's own role carries one policy, scoped to this stack's resources and checked statement "
            "by statement in the tests; a managed policy could be attached elsewhere"
        )},
    )
    if tracing:
        acknowledge(
            role,
            {"AwsSolutions::AwsSolutions-IAM5[Resource::*]": (
                "Active tracing's xray:PutTraceSegments and xray:PutTelemetryRecords have no resource types: "
                "IAM allows them only on '*' (X-Ray's documentation of its actions)"
            )},
        )
    else:
        acknowledge(
            function,
            {"Serverless::Serverless-LambdaTracing": "X-Ray tracing is off by default (it costs per trace); "
             "the config key tracing turns it on"},
        )
    if key is None:
        acknowledge(
            log_group,
            {"NIST.800.53.R5::NIST.800.53.R5-CloudWatchLogGroupEncrypted": (
                "CloudWatch Logs encrypts every log group at rest with its own keys; the config key "
                "customer_managed_key encrypts it with the stack's KMS key"
            )},
        )
