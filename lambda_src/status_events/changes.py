"""One DynamoDB stream record of a job or task table -> the EventBridge entry it publishes, or None.

The status is the one the processor stores: TABLE_ROLES[kind].status_field in the
details object (JobDetails.JobStatus, TaskDetails.Status), read from the record's old
and new images. Nothing here depends on the ordering attribute, so items the documented
Lambda wrote (no ordering attribute, NULL for empty strings) are read the same way.

- INSERT with a status, or MODIFY whose new status differs from the old one: a
  "Deadline <Kind> Status Change" (previousStatus absent after an INSERT or when the
  old item had no status, as Deadline Cloud leaves out its previous status on creation);
- any other INSERT or MODIFY: nothing, or a "Deadline <Kind> Update" when publishing
  every stored change;
- REMOVE (an operator deleting an item, smoke's clean-up): nothing; Deadline sent nothing.

A status is whatever string Deadline stored, known to this code or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from notification_processor.attributes import KEY_MAPPING
from notification_processor.identity import notification_id
from notification_processor.roles import JOB, TABLE_ROLES, TableRole
from notification_processor.timestamps import TICKS_PER_SECOND, TimestampError, timestamp_ticks

SOURCE = "deadline-sqs-notifications"
# The job ids of `deadline-sqs smoke` and `verify` start with this; their events carry
# "test": true, so rules that reach people other than the alarm topic's can leave them out.
TEST_JOB_PREFIX = "deadline-sqs-test-"
TEST_FIELD = "test"
STATUS_CHANGES = "status_changes"
ALL_CHANGES = "all_changes"
PUBLISH_MODES = (STATUS_CHANGES, ALL_CHANGES)
# The job statuses Deadline sends notifications for (suspended, completed, failed, deleted).
NOTIFIED_JOB_STATUSES = ("Failed", "Completed", "Suspended", "Deleted")

# Details and NotificationInfo fields -> the event detail's names (Deadline Cloud's style).
DETAIL_FIELDS = {
    "JobID": "jobId",
    "TaskID": "taskId",
    "JobName": "jobName",
    "UserName": "userName",
    "PluginName": "pluginName",
    "Pool": "pool",
    "Group": "group",
    "WorkerName": "workerName",
    "NumberOfErrors": "errors",
}
# A job event carries only job fields, even from a JobDetails that happens to hold a task's.
JOB_DETAIL_FIELDS = {
    **{name: label for name, label in DETAIL_FIELDS.items() if name not in ("TaskID", "WorkerName")},
    "Department": "department",
    "BatchName": "batchName",
    "FrameRange": "frameRange",
    "NumberOfTasks": "taskCount",
}
# JobDetails.ExtraInfo's fields, which submitters can set per job; the one the studio names
# (config notify_opt_out_field) is carried as notifyOptOut, for senders to honour "off".
EXTRA_INFO = "ExtraInfo"
OPT_OUT_FIELDS = tuple(f"{EXTRA_INFO}{n}" for n in range(10))
DEFAULT_OPT_OUT_FIELD = "ExtraInfo9"
OPT_OUT_LABEL = "notifyOptOut"
INFO_FIELDS = {"Name": "notification", "StatusReason": "statusReason", "StopReason": "statusReason"}
# An event carries at most 256 KB; no field of a notification's summary needs more than this.
MAX_TEXT = 2048
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def status_change_type(role: TableRole) -> str:
    return f"Deadline {role.kind.capitalize()} Status Change"


def update_type(role: TableRole) -> str:
    return f"Deadline {role.kind.capitalize()} Update"


@dataclass(frozen=True)
class Change:
    """A stream record's event: the PutEvents entry, the key it is about, and its record's place."""

    sequence_number: str
    key: tuple
    event_id: str
    entry: dict


def role_of(keys: dict) -> TableRole | None:
    """The table a record comes from, by its key's attribute names."""
    return next((role for role in TABLE_ROLES.values() if set(role.key_names) == set(keys)), None)


def change_event(
    record: dict,
    *,
    studio: str,
    bus_name: str,
    publish: str = STATUS_CHANGES,
    opt_out_field: str = DEFAULT_OPT_OUT_FIELD,
) -> Change | None:
    """The entry to publish for one stream record (a Lambda DynamoDB event record), or None.

    A job's event carries JobDetails.ExtraInfo's ``opt_out_field`` (one of OPT_OUT_FIELDS) as notifyOptOut.
    """
    stream = record["dynamodb"]
    new = stream.get("NewImage")
    role = role_of(stream.get("Keys", {}))
    if record["eventName"] == "REMOVE" or not new or role is None:
        return None
    old = stream.get("OldImage")
    status = _status(new, role)
    previous = _status(old, role) if old else None
    if status is not None and status != previous:
        detail_type = status_change_type(role)
    elif publish == ALL_CHANGES:
        detail_type = update_type(role)
    else:
        return None
    event_id = notification_id(new)
    detail = {"studio": studio, **_summary(new, role, opt_out_field)}
    if previous is not None:
        detail["previousStatus"] = previous
    if status is not None:
        detail["status"] = status
    detail["eventId"] = event_id
    if str(detail.get(DETAIL_FIELDS["JobID"], "")).startswith(TEST_JOB_PREFIX):
        detail[TEST_FIELD] = True
    entry: dict[str, str | datetime] = {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus_name,
    }
    moment = _moment(detail.get("timestamp"))
    if moment is not None:
        entry["Time"] = moment
    key = (role.kind, *(json.dumps(stream["Keys"][name], sort_keys=True) for name in role.key_names))
    return Change(stream["SequenceNumber"], key, event_id, entry)


def _status(image: dict, role: TableRole) -> str | None:
    value = _field(image, KEY_MAPPING[role.details_field], role.status_field)
    return value if isinstance(value, str) and value else None


def _summary(image: dict, role: TableRole, opt_out_field: str) -> dict:
    """The notification's fields an event carries, where the notification has them (not empty, not NULL)."""
    details = image.get(KEY_MAPPING[role.details_field], {}).get("M", {})
    info = image.get(KEY_MAPPING["NotificationInfo"], {}).get("M", {})
    summary = {}
    if role.kind == JOB:
        extra_info = details.get(EXTRA_INFO, {}).get("M", {})
        sources = [(JOB_DETAIL_FIELDS, details), ({opt_out_field: OPT_OUT_LABEL}, extra_info), (INFO_FIELDS, info)]
    else:
        sources = [(DETAIL_FIELDS, details), (INFO_FIELDS, info)]
    for fields, source in sources:
        for name, label in fields.items():
            value = _scalar(source.get(name, {"NULL": True}))
            if value is not None and value != "":
                summary[label] = value
    timestamp = _scalar(image.get(KEY_MAPPING["Timestamp"], {"NULL": True}))
    if isinstance(timestamp, str):
        summary["timestamp"] = timestamp
    return summary


def _field(image: dict, *path: str):
    value = {"M": image}
    for name in path:
        value = value.get("M", {}).get(name, {"NULL": True})
    return _scalar(value)


def _scalar(value: dict):
    """A string, number or boolean AttributeValue as JSON's; anything else as None."""
    ((kind, content),) = value.items()
    if kind == "S":
        return content[:MAX_TEXT]
    if kind == "N":
        number = Decimal(content)
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "BOOL":
        return content
    return None


def _moment(timestamp) -> datetime | None:
    """The notification's Timestamp as the event's time (None if it is not one)."""
    try:
        ticks = timestamp_ticks(timestamp) if isinstance(timestamp, str) else None
    except TimestampError:
        return None
    return None if ticks is None else _EPOCH + timedelta(microseconds=ticks // (TICKS_PER_SECOND // 1_000_000))
