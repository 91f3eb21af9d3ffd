"""The tables the processor keeps the newest job and task notifications in, and the optional history."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from notification_processor.roles import HISTORY_EXPIRY_ATTRIBUTE, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from stacks.constructs import acknowledge, escape_hatch
from stacks.roles import HISTORY_TABLE, TABLES

_ATTRIBUTE_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


class NotificationTables(Construct):
    """One table per role in stacks.roles.TABLES, keyed as the role says (Deadline's documented schema).

    On demand, point-in-time recovery, encrypted with ``key`` when given, else with the AWS
    managed key (KMS, auditable in CloudTrail either way); ``removal_policy`` and
    ``deletion_protection`` decide what a stack deletion may do. ``tables`` maps each role to
    its table. With ``streams``, both stream every change of an item with its old and new
    image (for the status-change publisher). With ``history_table_name``, ``history_table``
    is the history (history.py in the processor): keyed by job id and timeline, its entries
    expiring by their TTL attribute; with ``history_stream`` it streams each new entry
    (NEW_IMAGE) for the failing-worker check and the archive.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_names: Mapping[str, str],
        streams: bool,
        history_table_name: str | None,
        history_stream: bool,
        key: kms.IKey | None,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        durable = durable_table_settings(key=key, removal_policy=removal_policy, deletion_protection=deletion_protection)
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
                stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if streams else None,
                **durable,
            )
            escape_hatch(table).override_logical_id(resource.logical_id)
            acknowledge_backups(table)
            self.tables[kind] = table

        self.history_table: dynamodb.Table | None = None
        if history_table_name is not None:
            self.history_table = dynamodb.Table(
                self,
                "HistoryTable",
                table_name=history_table_name,
                partition_key=dynamodb.Attribute(
                    name=HISTORY_PARTITION_KEY.name, type=_ATTRIBUTE_TYPES[HISTORY_PARTITION_KEY.type]
                ),
                sort_key=dynamodb.Attribute(name=HISTORY_SORT_KEY, type=dynamodb.AttributeType.STRING),
                time_to_live_attribute=HISTORY_EXPIRY_ATTRIBUTE,
                stream=dynamodb.StreamViewType.NEW_IMAGE if history_stream else None,
                **durable,
            )
            escape_hatch(self.history_table).override_logical_id(HISTORY_TABLE.logical_id)
            acknowledge_backups(self.history_table)


def durable_table_settings(*, key: kms.IKey | None, removal_policy: RemovalPolicy, deletion_protection: bool) -> dict:
    """What every table of the stack has (the notification tables, the history, the senders' and the check's
    state): on demand, point-in-time recovery, encrypted with ``key`` (else the AWS managed key), and the
    stack's removal policy and deletion protection."""
    return {
        "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
        "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        "encryption": dynamodb.TableEncryption.AWS_MANAGED if key is None else dynamodb.TableEncryption.CUSTOMER_MANAGED,
        "encryption_key": key,
        "removal_policy": removal_policy,
        "deletion_protection": deletion_protection,
    }


def acknowledge_backups(table: dynamodb.Table) -> None:
    acknowledge(
        table,
        {"NIST.800.53.R5::NIST.800.53.R5-DynamoDBInBackupPlan": (
            "Point-in-time recovery keeps 35 days of continuous backups, and deletion protection and the "
            "Retain policy keep the table; an AWS Backup plan would add copies the studio has not asked for"
        )},
    )
