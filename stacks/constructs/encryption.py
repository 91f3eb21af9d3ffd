"""The pipeline's one customer managed KMS key (config `customer_managed_key`)."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, IListProducer, IResolveContext, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
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
    """One key with rotation for the queues, the tables and the functions' log groups.

    The key policy keeps the account's default statement (so IAM policies apply) and lets
    CloudWatch Logs use the key for the log groups of this stack that it encrypts, each by its
    name (see _OwnLogGroups). DynamoDB and SQS use it on behalf of callers whose IAM policies allow it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, description: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "Key", description=description, enable_key_rotation=True, removal_policy=removal_policy
        )
        # Pinned: the key encrypts retained data, so no refactor may replace it.
        escape_hatch(self.key).override_logical_id(PIPELINE_KEY_LOGICAL_ID)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=list(LOGS_KEY_ACTIONS),
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": Lazy.uncached_list(_OwnLogGroups(self.key))}},
            )
        )


@jsii.implements(IListProducer)
class _OwnLogGroups:
    """At synthesis: an ARN pattern for each log group of the key's stack that the key encrypts.

    CloudFormation names a log group without a name "<stack name>-<logical id>-<suffix>" (its User
    Guide, "Name type"), so each pattern names one logical id: `<stack name>-*` would also match the
    log groups of a stack named "<stack name>-sandbox". The log groups' own ARNs cannot be used: each
    log group refers to the key. The delivery-path walk checks the patterns against both names.
    """

    def __init__(self, key: kms.Key):
        self.key = key

    def produce(self, context: IResolveContext) -> list[str]:
        stack = Stack.of(self.key)
        key_arn = stack.resolve(self.key.key_arn)
        return [
            stack.format_arn(
                service="logs",
                resource="log-group",
                resource_name=f"{stack.stack_name}-{log_group.logical_id}-*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            for log_group in stack.node.find_all()
            if isinstance(log_group, logs.CfnLogGroup) and stack.resolve(log_group.kms_key_id) == key_arn
        ]
