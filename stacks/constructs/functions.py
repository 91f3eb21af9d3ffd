"""What the stack's two functions share: the code asset, the runtime, their own role and log group."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import PROJECT_ROOT
from stacks.constructs import escape_hatch

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
    removal_policy: RemovalPolicy,
) -> OwnFunction:
    """A function from lambda_src/ with its own log group (JSON logs) and its own role (no managed policy,
    so no logs:CreateLogGroup on every group), as children "LogGroup", "Role" and "Function" of `scope`."""
    log_group = logs.LogGroup(scope, "LogGroup", removal_policy=removal_policy)
    # The L2 takes an enum; the config holds days, already checked against CloudWatch's list.
    escape_hatch(log_group).add_property_override("RetentionInDays", log_retention_days)
    role = iam.Role(
        scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=role_description
    )
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=lambda_.Code.from_asset(str(LAMBDA_SOURCE), exclude=LAMBDA_SOURCE_EXCLUDES),
        timeout=timeout,
        memory_size=memory_size,
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
        environment=dict(environment),
    )
    log_group.grant_write(role)
    return OwnFunction(function, role, log_group)
