"""The pipeline's one customer managed KMS key (config `customer_managed_key`)."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs import escape_hatch
from stacks.roles import PIPELINE_KEY_LOGICAL_ID

# What CloudWatch Logs does with a log group's key (its documented key policy, without wildcards).
LOGS_KEY_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
)


class PipelineKey(Construct):
    """One key with rotation for the queues, the tables and the processor's log group.

    The key policy keeps the account's default statement (so IAM policies apply) and lets
    CloudWatch Logs use the key for this stack's log groups only. DynamoDB and SQS use it
    on behalf of callers whose IAM policies allow it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, description: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "Key", description=description, enable_key_rotation=True, removal_policy=removal_policy
        )
        # Pinned: the key encrypts retained data, so no refactor may replace it.
        escape_hatch(self.key).override_logical_id(PIPELINE_KEY_LOGICAL_ID)
        # CloudFormation names a log group without a name "<stack name>-<logical id>-<suffix>" (its
        # User Guide, "Name type"); the delivery-path walk checks the condition against those names.
        # The log group's own ARN cannot be used: the log group refers to the key.
        own_log_groups = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=f"{stack.stack_name}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": own_log_groups}},
            )
        )
