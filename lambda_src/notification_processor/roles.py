"""The tables the processor writes, by role: one entry per kind of notification.

Everything that differs between the job table and the task table is said here once:
which body field holds the key, the table's key schema, and the environment variable
that names the table. The processor, the stack and the tooling iterate over
TABLE_ROLES; nothing else names "job" and "task" one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

JOB = "job"
TASK = "task"


@dataclass(frozen=True)
class KeyAttribute:
    """One attribute of a table's primary key and the details field it is read from."""

    name: str
    type: str  # the DynamoDB scalar type: "S" or "N"
    source_field: str  # in the notification's details object


@dataclass(frozen=True)
class TableRole:
    kind: str  # the kind of notification the table holds: JOB or TASK
    details_field: str  # the body's object that identifies the job or task
    key: tuple[KeyAttribute, ...]  # partition key first, then the sort key if any
    status_field: str  # in the details object: the job's or task's status
    environment_variable: str  # names the table in the processor's environment

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(attribute.name for attribute in self.key)


_JOB_ID = KeyAttribute("job_id", "S", "JobID")
_TASK_ID = KeyAttribute("task_id", "N", "TaskID")

# Deadline's documented tables and the documented Lambda's environment variable names.
TABLE_ROLES: dict[str, TableRole] = {
    JOB: TableRole(JOB, "JobDetails", (_JOB_ID,), "JobStatus", "DYNAMODB_JOB_INFO_TABLE"),
    TASK: TableRole(TASK, "TaskDetails", (_JOB_ID, _TASK_ID), "Status", "DYNAMODB_TASK_INFO_TABLE"),
}

# The optional history table (history.py): every distinct notification of a job and its
# tasks under the job's id (the same partition key), sorted by time; entries expire.
HISTORY_PARTITION_KEY = _JOB_ID
HISTORY_SORT_KEY = "timeline"  # S: UTC Timestamp, then the notification's id
HISTORY_EXPIRY_ATTRIBUTE = "expires_at"  # N: epoch seconds, the table's TTL attribute
HISTORY_TABLE_VARIABLE = "DYNAMODB_HISTORY_TABLE"
HISTORY_DAYS_VARIABLE = "HISTORY_DAYS"
