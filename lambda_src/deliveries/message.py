"""The fields every template may use, each always readable text: never "null", "None" or empty."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from notification_processor.timestamps import TICKS_PER_SECOND, TimestampError, timestamp_ticks

NOT_GIVEN = "(not given)"
# Each field and what it reads when the event lacks it (None: derived below, never missing).
DEFAULTS: dict[str, str | None] = {
    "title": None,
    "jobName": None,
    "jobId": NOT_GIVEN,
    "userName": "(unknown user)",
    "status": "(unknown status)",
    "previousStatus": "(new)",
    "time": None,
    "timestamp": NOT_GIVEN,
    "frameRange": NOT_GIVEN,
    "taskCount": NOT_GIVEN,
    "errors": "0",
    "statusReason": "(none given)",
    "pool": NOT_GIVEN,
    "group": NOT_GIVEN,
    "pluginName": NOT_GIVEN,
    "department": NOT_GIVEN,
    "batchName": "(none)",
    "studio": NOT_GIVEN,
    "kind": None,
    "taskId": NOT_GIVEN,
    "workerName": NOT_GIVEN,
    "eventId": NOT_GIVEN,
    "summary": None,
}
FIELD_NAMES = frozenset(DEFAULTS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def message_fields(event: dict) -> dict[str, str]:
    """The template fields of one status-change event (EventBridge's event, its ``detail``)."""
    detail = event.get("detail", {})
    fields = {name: _text(detail.get(name)) or default for name, default in DEFAULTS.items() if default is not None}
    fields["jobName"] = _text(detail.get("jobName")) or _text(detail.get("jobId")) or "(unnamed job)"
    fields["kind"] = "task" if "Task" in str(event.get("detail-type", "")) else "job"
    fields["time"] = readable_time(_text(detail.get("timestamp")) or _text(event.get("time")))
    fields["title"] = f"Render {fields['status']}: {fields['jobName']}"
    if fields["kind"] == "task":
        fields["title"] = f"Task {fields['taskId']} {fields['status']}: {fields['jobName']}"
    fields["summary"] = (
        f"{fields['jobName']} of {fields['userName']} is {fields['status']} (was {fields['previousStatus']}) "
        f"at {fields['time']}: {fields['statusReason']}"
    )
    return fields


def message_fields_of_alarm(notification: dict) -> dict[str, str]:
    """The template fields of one alarm-topic notification: a CloudWatch alarm's JSON, or a job alert's line."""
    fields = {name: NOT_GIVEN for name in DEFAULTS}
    text = _text(notification.get("Message")) or NOT_GIVEN
    alarm = _json_object(text)
    if alarm is not None and "AlarmName" in alarm:
        state = _text(alarm.get("NewStateValue")) or "ALARM"
        fields["status"] = state
        fields["title"] = f"{state}: {_text(alarm.get('AlarmName')) or 'an alarm'}"
        description = _text(alarm.get("AlarmDescription"))
        reason = _text(alarm.get("NewStateReason")) or "(none given)"
        fields["summary"] = f"{description}. {reason}" if description else reason
    else:
        fields["status"] = "ALERT"
        fields["title"] = _text(notification.get("Subject")) or "Deadline alert"
        fields["summary"] = text
    # Templates written for jobs read the alarm's title as the "job" and its text as the reason.
    fields["jobName"], fields["statusReason"] = fields["title"], fields["summary"]
    fields["time"] = readable_time(_text(notification.get("Timestamp")))
    fields["timestamp"] = _text(notification.get("Timestamp")) or NOT_GIVEN
    fields["eventId"] = _text(notification.get("MessageId")) or NOT_GIVEN
    fields["kind"] = "alarm"
    return fields


def readable_time(timestamp: str) -> str:
    """`2024-03-04T15:02:11.1234567Z` -> `2024-03-04 15:02:11 UTC`; anything unreadable as it is, or (not given)."""
    if not timestamp:
        return NOT_GIVEN
    try:
        seconds = timestamp_ticks(timestamp) // TICKS_PER_SECOND
    except TimestampError:
        return timestamp
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(value) -> str:
    """A detail's value as text; "" for what is missing or empty (None, "", "null", [], {})."""
    if value is None or isinstance(value, list | dict):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip()
    return "" if text.lower() in ("null", "none") else text


def _json_object(text: str) -> dict | None:
    try:
        loaded = json.loads(text)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None
