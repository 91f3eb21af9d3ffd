"""The two tables the processor keeps the newest job and task notifications in."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

JOB_ID = dynamodb.Attribute(name="job_id", type=dynamodb.AttributeType.STRING)
TASK_ID = dynamodb.Attribute(name="task_id", type=dynamodb.AttributeType.NUMBER)


class NotificationTables(Construct):
    """``job_table`` keyed by job_id, ``task_table`` by job_id and task_id (Deadline's documented schema).

    On demand, point-in-time recovery, encrypted with the AWS managed key (KMS, auditable in
    CloudTrail); ``removal_policy`` and ``deletion_protection`` decide what a stack deletion may do.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        job_table_name: str,
        task_table_name: str,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        durable = {
            "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
            "point_in_time_recovery_specification": dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            "encryption": dynamodb.TableEncryption.AWS_MANAGED,
            "removal_policy": removal_policy,
            "deletion_protection": deletion_protection,
        }
        self.job_table = dynamodb.Table(self, "JobTable", table_name=job_table_name, partition_key=JOB_ID, **durable)
        self.task_table = dynamodb.Table(
            self, "TaskTable", table_name=task_table_name, partition_key=JOB_ID, sort_key=TASK_ID, **durable
        )
