"""CloudFormation logical ids of the stateful resources, pinned.

No refactor of the construct tree can make CloudFormation replace a table or a queue;
the local tooling (local_pipeline/spec.py) finds them in the template by these ids.
Plain constants: importing them loads no CDK.
"""

JOB_TABLE_ID = "JobNotificationsTable"
TASK_TABLE_ID = "TaskNotificationsTable"
QUEUE_ID = "NotificationQueue"
DEAD_LETTER_QUEUE_ID = "NotificationDeadLetterQueue"
