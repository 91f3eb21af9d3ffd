"""One stream record of the history table -> the task failure it reports, or None.

"A failure" is a task notification whose stored status is Failed: TaskDetails.Status
as the processor stores it (status_events.changes reads it the same way). The history
writes each distinct notification once, so its stream has one INSERT per failure
(Lambda may still deliver that record more than once). FILTER_PATTERN is Lambda's event
filter for the same records; `failure_of` checks them again, so a record the filter
let through by mistake is skipped, never counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from notification_processor.attributes import KEY_MAPPING
from notification_processor.roles import HISTORY_SORT_KEY, TABLE_ROLES, TASK
from notification_processor.timestamps import TimestampError, timestamp_ticks
from status_events.changes import INFO_FIELDS, TEST_JOB_PREFIX

FAILED = "Failed"
_TASK = TABLE_ROLES[TASK]
_DETAILS = KEY_MAPPING[_TASK.details_field]
_INFO = KEY_MAPPING["NotificationInfo"]
_TIMESTAMP = KEY_MAPPING["Timestamp"]
MAX_REASON = 300  # characters of a reason kept; the event carries the last few

# Lambda's FilterCriteria pattern (one filter): history INSERTs of task entries whose status is Failed.
FILTER_PATTERN = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {_DETAILS: {"M": {_TASK.status_field: {"S": [FAILED]}}}}},
}


@dataclass(frozen=True)
class Failure:
    worker: str
    job_id: str
    task_id: int
    ticks: int  # the notification's Timestamp, in 100 ns ticks
    timestamp: str  # as Deadline wrote it
    notification_id: str  # identity.notification_id, the end of the history entry's sort key
    reason: str

    @property
    def test(self) -> bool:
        return self.job_id.startswith(TEST_JOB_PREFIX)

    def to_json(self) -> list:
        return [self.worker, self.job_id, self.task_id, self.ticks, self.timestamp, self.notification_id, self.reason]

    @classmethod
    def from_json(cls, row: list) -> Failure:
        worker, job_id, task_id, ticks, timestamp, nid, reason = row
        return cls(worker, job_id, int(task_id), int(ticks), timestamp, nid, reason)


def failure_of(record: dict) -> Failure | None:
    """The failure a stream record reports; None for anything else (or a failure naming no worker)."""
    if record.get("eventName") != "INSERT":
        return None
    image = record.get("dynamodb", {}).get("NewImage") or {}
    details = image.get(_DETAILS, {}).get("M", {})
    if _text(details, _TASK.status_field) != FAILED:
        return None
    worker, job_id = _text(details, "WorkerName"), _text(details, "JobID")
    task_id = details.get("TaskID", {}).get("N")
    timestamp = image.get(_TIMESTAMP, {}).get("S")
    timeline = image.get(HISTORY_SORT_KEY, {}).get("S", "")
    if not worker or not job_id or task_id is None or not timestamp or "#" not in timeline:
        return None
    try:
        ticks = timestamp_ticks(timestamp)
    except TimestampError:
        return None
    info = image.get(_INFO, {}).get("M", {})
    reason = next((text for name in INFO_FIELDS if name != "Name" and (text := _text(info, name))), "")
    # history.timeline_key: "<UTC Timestamp>#<notification id>".
    nid = timeline.rpartition("#")[2]
    return Failure(worker, job_id, int(task_id), ticks, timestamp, nid, reason[:MAX_REASON])


def _text(attributes: dict, name: str) -> str:
    value = attributes.get(name, {}).get("S")
    return value if isinstance(value, str) else ""
