"""The tables the processor keeps the newest job and task notifications in."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.constructs import acknowledge, escape_hatch
from stacks.roles import TABLES

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class NotificationTables(Construct):
    """One table per role in stacks.roles.TABLES, keyed as the role says (Deadline's documented schema).

    On demand, point-in-time recovery, encrypted with ``key`` when given, else with the AWS
    managed key (KMS, auditable in CloudTrail either way); ``removal_policy`` and
    ``deletion_protection`` decide what a stack deletion may do. ``tables`` maps each role to its table.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_names: Mapping[str, str],
        key: kms.IKey | None,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        durable = {
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "encryption": dynamodb.TableEncryption.AWS_MANAGED
            if key is None
            else dynamodb.TableEncryption.CUSTOMER_MANAGED,
            "encryption_key": key,
            "removal_policy": removal_policy,
            "deletion_protection": deletion_protection,
        }
        self.tables: dict[str, dynamodb.Table] = {}
        for kind, resource in TABLES.items():
            partition, *sort = (
                dynamodb.Attribute(name=attribute.name, type=_ATTRIBUTE_TYPES[attribute.type])
                for attribute in resource.role.key
            )
            table = dynamodb.Table(
                self,
                resource.construct_id,
                table_name=table_names[kind],
                partition_key=partition,
                sort_key=sort[0] if sort else None,
                **durable,
            )
            escape_hatch(table).override_logical_id(resource.logical_id)
            acknowledge(
                table,
                {"NIST.800.53.R5::NIST.800.53.R5-DynamoDBInBackupPlan": (
                    "Point-in-time recovery keeps 35 days of continuous backups, and deletion protection and the "
                    "Retain policy keep the table; an AWS Backup plan would add copies the studio has not asked for"
                )},
            )
            self.tables[kind] = table
