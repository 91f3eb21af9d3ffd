"""Every resource other code looks for, by its role: pinned logical ids and stack outputs.

The CloudFormation logical ids of the stateful resources are pinned, so no refactor
of the construct tree can make CloudFormation replace a table or a queue. The local
tooling finds resources in the template by these ids, the operator commands in the
stack's outputs by these output keys. Plain constants: importing them loads no CDK.

The tables come from the processor's own roles (notification_processor.roles): a new
table is one entry there and one here.
"""

from __future__ import annotations

from dataclasses import dataclass

from notification_processor.roles import JOB, TABLE_ROLES, TASK, TableRole

PROCESSOR_HANDLER = "lambda_function.main"
PUBLISHER_HANDLER = "status_events.handler.main"
FARM_HEALTH_HANDLER = "farm_health.handler.main"
ARCHIVER_HANDLER = "archive.handler.main"
# The processor's Lambda runtime; `make test-runtime` runs its tests on this Python where the machine has it.
PROCESSOR_RUNTIME = "python3.14"


@dataclass(frozen=True)
class TableResource:
    role: TableRole
    logical_id: str  # pinned
    config_key: str  # the StudioConfig field with the table's name
    output_key: str  # the stack output holding the table's name
    description: str

    @property
    def construct_id(self) -> str:
        return f"{self.role.kind.capitalize()}Table"


@dataclass(frozen=True)
class PinnedResource:
    logical_id: str  # pinned
    output_key: str  # the stack output holding the resource's name (a queue's URL)
    description: str


TABLES: dict[str, TableResource] = {
    JOB: TableResource(
        TABLE_ROLES[JOB], "JobNotificationsTable", "job_table_name", "JobTableName", "Newest notification per job"
    ),
    TASK: TableResource(
        TABLE_ROLES[TASK], "TaskNotificationsTable", "task_table_name", "TaskTableName", "Newest notification per task"
    ),
}
QUEUE = PinnedResource(
    "NotificationQueue", "QueueUrl", "Enter in Deadline Monitor: Repository Options > SQS Notifications"
)
DEAD_LETTER_QUEUE = PinnedResource(
    "NotificationDeadLetterQueue", "DeadLetterQueueUrl", "Notifications that could not be stored"
)
PRODUCER_POLICY_OUTPUT = "ProducerPolicyArn"
ALARM_TOPIC_OUTPUT = "AlarmTopicArn"

# Status-change events (optional by configuration: on by default).
EVENT_BUS = PinnedResource("StatusEventBus", "EventBusName", "Status-change events of jobs and tasks")
EVENT_BUS_ARN_OUTPUT = "EventBusArn"
PUBLISH_FAILURE_QUEUE = PinnedResource(
    "StatusEventFailureQueue", "StatusEventFailureQueueUrl", "Stream batches the publisher could not publish"
)
# The optional history (off by default).
HISTORY_TABLE = PinnedResource("NotificationHistoryTable", "HistoryTableName", "Every distinct notification, per job")
# Failing workers (config failing_workers): the counting state, and where failed stream batches go.
# Found by logical id only: no output, nothing outside the stack needs their names.
WORKER_FAILURE_TABLE_LOGICAL_ID = "WorkerFailureTable"
FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID = "FarmHealthFailureQueue"
# The customer managed key (config customer_managed_key); the id it had when it encrypted only the queues.
PIPELINE_KEY_LOGICAL_ID = "QueuesKey15CDAF06"
# The archive and its reports (config reports, off by default): docs/reports.md.
REPORTS_BUCKET = PinnedResource("ReportsBucket", "ReportsBucketName", "The archive (Parquet) and Athena's results")
# Where history stream batches the archiver gave up on are described (pinned; found by this id, no output).
ARCHIVE_FAILURE_QUEUE_LOGICAL_ID = "ArchiveFailureQueue"
REPORTS_WORKGROUP_OUTPUT = "ReportsWorkgroup"
REPORTS_DATABASE_OUTPUT = "ReportsDatabase"
# The archive's Glue table in that database, which the reports query.
REPORTS_TABLE = "notifications"

# Deliveries (issue 17: docs/notifications.md): the sender, its queues and state, the artists' topic.
SENDER_HANDLER = "deliveries.handler.main"
DELIVERY_QUEUE = PinnedResource("DeliveryQueue", "DeliveryQueueUrl", "Status-change events on their way to the sender")
DELIVERY_DEAD_LETTER_QUEUE = PinnedResource(
    "DeliveryDeadLetterQueue", "DeliveryDeadLetterQueueUrl", "Deliveries that failed: the sender's and the rules'"
)
DELIVERY_STATE_TABLE = PinnedResource(
    "DeliveryStateTable", "DeliveryStateTableName", "The last change sent per destination and job (each change once)"
)
# It holds the subscriptions `deadline-sqs subscribe` makes: replacing it would drop them.
JOB_NOTIFICATION_TOPIC = PinnedResource(
    "JobNotificationTopic", "JobNotificationTopicArn", "Per-artist job notifications: `deadline-sqs subscribe`"
)
JOB_NOTIFICATION_STATUSES_OUTPUT = "JobNotificationStatuses"  # what `deadline-sqs subscribe --statuses` may choose
