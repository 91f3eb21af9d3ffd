"""THE archive's schema: one flat row per distinct notification, ready for reports.

The Glue table's columns (the stack), the archiver's JSON lines (Firehose converts them
to Parquet by that table) and the local archive's Parquet files all come from COLUMNS
and row(), so Athena and DuckDB read one schema.

row() reads a history item as DynamoDB holds it (AttributeValues: the history stream's
NewImage, or a client's GetItem/Query) and gives:
- every column of COLUMNS, None where the notification has no value (an empty string
  included) or where the column is not of its kind (a task row has no job name: task
  notifications carry none; reports join to the job's row at query time);
- Deadline's placeholder dates (`0001-01-01T00:00:00Z`: "not yet") as None, and every
  other date as a UTC timestamp `YYYY-MM-DD HH:MM:SS.ffffff`, the text Glue's
  timestamp type and Firehose's JSON deserializer read;
- RenderTime (.NET's TimeSpan: `hh:mm:ss`, `d.hh:mm:ss`, optionally `.fffffff`) as seconds;
- the partition values of PARTITION_COLUMNS: the kind, and the day and hour (UTC) of the
  notification's own Timestamp, never of its arrival, so a late notification lands where
  its time says;
- event_id: the notification's identity (notification_processor.identity), the same as its
  status-change event's eventId. Lambda and Firehose retries can repeat a row: reports
  drop repeats by it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from notification_processor.attributes import KEY_MAPPING
from notification_processor.identity import notification_id
from notification_processor.notifications import HISTORY_ATTRIBUTES
from notification_processor.roles import JOB, TABLE_ROLES, TASK
from notification_processor.timestamps import TICKS_PER_SECOND, TimestampError, deadline_form, timestamp_ticks

STRING = "string"
BIGINT = "bigint"
DOUBLE = "double"
TIMESTAMP = "timestamp"
GLUE_TYPES = (STRING, BIGINT, DOUBLE, TIMESTAMP)


@dataclass(frozen=True)
class Column:
    name: str
    glue_type: str  # one of GLUE_TYPES (Glue's, i.e. Hive's, type names)
    comment: str = ""


# Where each column's value comes from: per kind, the details object's field (or the
# NotificationInfo's, or a top-level attribute's). Built below from this one table.
_JOB_DETAILS = KEY_MAPPING[TABLE_ROLES[JOB].details_field]
_TASK_DETAILS = KEY_MAPPING[TABLE_ROLES[TASK].details_field]
_INFO = KEY_MAPPING["NotificationInfo"]
_TOP = ""  # a top-level attribute of the item

_SOURCES: tuple[tuple[Column, Mapping[str, tuple[tuple[str, str], ...]]], ...] = (
    (Column("event_id", STRING, "The notification's identity; repeats of a row share it"), {}),
    (Column("job_id", STRING, "Deadline's job id"), {JOB: ((_TOP, "job_id"),), TASK: ((_TOP, "job_id"),)}),
    (Column("task_id", BIGINT, "Task rows: the task's number in its job"), {TASK: ((_TOP, "task_id"),)}),
    (Column("job_name", STRING, "Job rows"), {JOB: ((_JOB_DETAILS, "JobName"),)}),
    (Column("user_name", STRING, "Job rows: who submitted the job"), {JOB: ((_JOB_DETAILS, "UserName"),)}),
    (Column("department", STRING, "Job rows"), {JOB: ((_JOB_DETAILS, "Department"),)}),
    (Column("batch_name", STRING, "Job rows"), {JOB: ((_JOB_DETAILS, "BatchName"),)}),
    (Column("pool", STRING, "Job rows"), {JOB: ((_JOB_DETAILS, "Pool"),)}),
    (Column("group_name", STRING, "Job rows: Deadline's Group"), {JOB: ((_JOB_DETAILS, "Group"),)}),
    (Column("plugin_name", STRING, "Job rows"), {JOB: ((_JOB_DETAILS, "PluginName"),)}),
    (Column("priority", BIGINT, "Job rows"), {JOB: ((_JOB_DETAILS, "JobPriority"),)}),
    (Column("task_count", BIGINT, "Job rows"), {JOB: ((_JOB_DETAILS, "NumberOfTasks"),)}),
    (
        Column("frame_range", STRING, "The job's or the task's frames"),
        {JOB: ((_JOB_DETAILS, "FrameRange"),), TASK: ((_TASK_DETAILS, "FrameRange"),)},
    ),
    (
        Column("status", STRING, "The job's or the task's status, as stored"),
        {JOB: ((_JOB_DETAILS, "JobStatus"),), TASK: ((_TASK_DETAILS, "Status"),)},
    ),
    (Column("notification_name", STRING, "NotificationInfo.Name"), {JOB: ((_INFO, "Name"),), TASK: ((_INFO, "Name"),)}),
    (
        Column("status_reason", STRING, "NotificationInfo.StatusReason or StopReason"),
        {kind: ((_INFO, "StatusReason"), (_INFO, "StopReason")) for kind in (JOB, TASK)},
    ),
    (Column("worker_name", STRING, "Task rows: the worker that ran it"), {TASK: ((_TASK_DETAILS, "WorkerName"),)}),
    (
        Column("errors", BIGINT, "The job's or the task's error count"),
        {JOB: ((_JOB_DETAILS, "NumberOfErrors"),), TASK: ((_TASK_DETAILS, "NumberOfErrors"),)},
    ),
    (Column("render_seconds", DOUBLE, "Task rows: RenderTime in seconds"), {TASK: ((_TASK_DETAILS, "RenderTime"),)}),
    (Column("submitted_at", TIMESTAMP, "Job rows, UTC"), {JOB: ((_JOB_DETAILS, "JobSubmitDateTime"),)}),
    (
        Column("started_at", TIMESTAMP, "The job's or the task's start, UTC"),
        {JOB: ((_JOB_DETAILS, "JobStartedDateTime"),), TASK: ((_TASK_DETAILS, "TaskStartDateTime"),)},
    ),
    (Column("render_started_at", TIMESTAMP, "Task rows, UTC"), {TASK: ((_TASK_DETAILS, "RenderStartTime"),)}),
    (
        Column("completed_at", TIMESTAMP, "The job's or the task's completion, UTC"),
        {JOB: ((_JOB_DETAILS, "JobCompletedDateTime"),), TASK: ((_TASK_DETAILS, "CompletedDateTime"),)},
    ),
    (Column("peak_cpu_percent", DOUBLE, "Task rows"), {TASK: ((_TASK_DETAILS, "PeakCPUUtilizationPercent"),)}),
    (Column("peak_ram_bytes", BIGINT, "Task rows"), {TASK: ((_TASK_DETAILS, "PeakRamUsageBytes"),)}),
    (Column("peak_ram_percent", DOUBLE, "Task rows"), {TASK: ((_TASK_DETAILS, "PeakRamUtilizationPercent"),)}),
    (
        Column("notified_at", TIMESTAMP, "The notification's Timestamp, UTC"),
        {kind: ((_TOP, KEY_MAPPING["Timestamp"]),) for kind in (JOB, TASK)},
    ),
)
COLUMNS: tuple[Column, ...] = tuple(column for column, _ in _SOURCES)
# Not in the files' columns: Hive-style folders (kind=job/dt=2024-03-04/hour=15/) hold them.
PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("kind", STRING, "job or task"),
    Column("dt", STRING, "The Timestamp's UTC day, YYYY-MM-DD"),
    Column("hour", STRING, "The Timestamp's UTC hour, 00 to 23"),
)
KINDS = (JOB, TASK)

# Deadline's "no date yet": .NET's DateTime.MinValue, with or without an offset.
PLACEHOLDER_DATE = "0001-01-01"
# .NET's TimeSpan: [-][d.]hh:mm:ss[.fffffff]
_TIME_SPAN = re.compile(
    r"(?P<sign>-)?(?:(?P<days>[0-9]+)\.)?(?P<hours>[0-9]{1,2}):(?P<minutes>[0-9]{2}):(?P<seconds>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,7}))?"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS_PER_MICROSECOND = TICKS_PER_SECOND // 1_000_000


class UnarchivableItem(ValueError):
    """An item that is no stored notification (no readable Timestamp to partition it by)."""


def render_seconds(text: str) -> float | None:
    """RenderTime (`00:10:00`, `1.02:03:04`, `00:00:01.5000000`) in seconds; None if it is not one."""
    match = _TIME_SPAN.fullmatch(text.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = (int(match[name] or 0) for name in ("days", "hours", "minutes", "seconds"))
    if minutes > 59 or seconds > 59:
        return None
    fraction = int((match["fraction"] or "").ljust(7, "0")) / TICKS_PER_SECOND
    total = days * 86_400 + hours * 3600 + minutes * 60 + seconds + fraction
    return -total if match["sign"] else total


def timestamp_text(text: str) -> str | None:
    """A Deadline date as `YYYY-MM-DD HH:MM:SS.ffffff` in UTC; None for the placeholder or a non-date."""
    if text.startswith(PLACEHOLDER_DATE):
        return None
    try:
        ticks = timestamp_ticks(text)
        moment = _EPOCH + timedelta(microseconds=ticks // _TICKS_PER_MICROSECOND)
    except (TimestampError, OverflowError):
        return None
    if moment.year < 1000:  # no real render is dated before then; Glue's reader wants four digits
        return None
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _scalar(value: dict | None) -> str | Decimal | bool | None:
    if not value:
        return None
    ((kind, content),) = value.items()
    if kind == "S":
        return content or None
    if kind == "N":
        return Decimal(content)
    if kind == "BOOL":
        return content
    return None


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _as_string(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def _as_bigint(value) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == number.to_integral_value() else None


def _as_double(value) -> float | None:
    number = _number(value)
    return float(number) if number is not None else None


def _as_timestamp(value) -> str | None:
    return timestamp_text(value) if isinstance(value, str) else None


_CONVERSIONS: dict[str, Callable[[object], object]] = {
    STRING: _as_string,
    BIGINT: _as_bigint,
    DOUBLE: _as_double,
    TIMESTAMP: _as_timestamp,
}


def _render_seconds(value) -> float | None:
    return render_seconds(value) if isinstance(value, str) else None


# The one column whose text is not its type's plain form.
_SPECIAL = {"render_seconds": _render_seconds}


def kind_of(item: Mapping[str, dict]) -> str:
    """`task` for an item keyed like the task table (it has a task_id), else `job`."""
    return TASK if all(name in item for name in TABLE_ROLES[TASK].key_names) else JOB


def row(history_item: Mapping[str, dict]) -> dict:
    """The archive's row for one history item: COLUMNS, then PARTITION_COLUMNS (see the module's doc)."""
    kind = kind_of(history_item)
    content = {name: value for name, value in history_item.items() if name not in HISTORY_ATTRIBUTES}
    timestamp = _scalar(history_item.get(KEY_MAPPING["Timestamp"]))
    try:
        ticks = timestamp_ticks(timestamp) if isinstance(timestamp, str) else None
    except TimestampError as error:
        raise UnarchivableItem(f"its Timestamp {timestamp!r} is {error}") from None
    if ticks is None:
        raise UnarchivableItem("it has no Timestamp: not a stored notification")
    values: dict = {}
    for column, sources in _SOURCES:
        found = None
        for container, name in sources.get(kind, ()):
            holder = history_item if container == _TOP else history_item.get(container, {}).get("M", {})
            found = _scalar(holder.get(name))
            if found is not None:
                break
        convert = _SPECIAL.get(column.name, _CONVERSIONS[column.glue_type])
        values[column.name] = None if found is None else convert(found)
    values["event_id"] = notification_id(content)
    moment = deadline_form(ticks)  # UTC: YYYY-MM-DDTHH:...
    return values | {"kind": kind, "dt": moment[:10], "hour": moment[11:13]}
