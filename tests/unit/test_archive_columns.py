"""The archive's rows: flat, typed as the Glue table says, partitioned by the notification's own time."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from archive.columns import COLUMNS, GLUE_TYPES, PARTITION_COLUMNS, UnarchivableItem, render_seconds, row
from notification_processor.identity import notification_id
from notification_processor.notifications import Notification, parse_record
from notification_processor.roles import HISTORY_SORT_KEY
from tests.unit.archive_support import history_item
from tests.unit.processor_support import job_body, sqs_record, task_body, timestamp_text

# 2024-03-04T23:59:59.9999999Z, late in a day: the partition is the notification's day, to the tick.
LATE_TICKS = 1709596799_9999999


def test_the_columns_are_unique_typed_as_glue_names_types_and_apart_from_the_partitions():
    names = [column.name for column in (*COLUMNS, *PARTITION_COLUMNS)]
    assert len(names) == len(set(names))
    assert {column.glue_type for column in COLUMNS} <= set(GLUE_TYPES)
    assert [column.name for column in PARTITION_COLUMNS] == ["kind", "dt", "hour"]


def test_a_job_row_has_the_jobs_fields_and_no_task_fields(documented_job_message):
    body = job_body(documented_job_message, "job-1", LATE_TICKS, "Completed")
    body["JobDetails"].update(Department="lighting", JobCompletedDateTime="2024-03-04T18:59:59.5-05:00")
    values = row(history_item(body))
    assert list(values) == [column.name for column in (*COLUMNS, *PARTITION_COLUMNS)]
    assert values["kind"] == "job"
    expected = {
        "job_id": "job-1",
        "task_id": None,
        "job_name": "maya-job-test",
        "user_name": "username",
        "department": "lighting",
        "batch_name": None,  # "" in the notification
        "pool": "none",
        "group_name": "none",
        "plugin_name": "MayaBatch",
        "priority": 50,
        "task_count": 3,
        "frame_range": "1-3",
        "status": "Completed",
        "notification_name": "JobStoppedNotification",
        "status_reason": "Job was suspended",
        "worker_name": None,
        "errors": 0,
        "render_seconds": None,
        "submitted_at": "2020-08-08 18:17:12.005000",  # -05:00 -> UTC
        "started_at": "2020-08-11 00:59:39.447000",
        "render_started_at": None,
        "completed_at": "2024-03-04 23:59:59.500000",
        "peak_cpu_percent": None,
        "peak_ram_bytes": None,
        "peak_ram_percent": None,
        "notified_at": "2024-03-04 23:59:59.999999",
    }
    assert {name: values[name] for name in values if name not in ("event_id", "kind", "dt", "hour")} == expected
    assert isinstance(values["priority"], int) and not isinstance(values["priority"], bool)


def test_a_task_row_has_the_tasks_fields_and_no_job_fields(documented_task_message):
    body = task_body(documented_task_message, "job-1", 7, LATE_TICKS, "Failed")
    body["TaskDetails"].update(RenderTime="1.02:03:04", PeakCPUUtilizationPercent=97.5, PeakRamUsageBytes=2**35)
    values = row(history_item(body))
    assert values["kind"] == "task"
    expected = {
        "job_id": "job-1",
        "task_id": 7,
        "job_name": None,  # task notifications carry no job name or user: reports join to the job's row
        "user_name": None,
        "pool": None,
        "frame_range": "1-1",
        "status": "Failed",
        "notification_name": "StoppedTaskNotification",
        "status_reason": "The Task '5f15e68eb8274818a0570167_0' was set to Completed.",  # StopReason
        "worker_name": "YWG-1800443371",
        "errors": 19,
        "render_seconds": 93784,
        "started_at": "2020-08-13 20:44:07.377000",
        "render_started_at": "2020-08-13 20:56:58.986000",
        "completed_at": "2020-08-13 20:56:58.986000",
        "peak_cpu_percent": 97.5,
        "peak_ram_bytes": 2**35,
        "peak_ram_percent": 0.0,
    }
    assert {name: values[name] for name in expected} == expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:10:00", 600), ("1.02:03:04", 93784), ("00:00:00", 0), ("12.00:00:00", 12 * 86400),
     ("00:00:01.5000000", 1.5), ("-00:00:02", -2), ("", None), ("10 min", None), ("00:61:00", None)],
)
def test_render_time_parses_as_dotnet_writes_a_time_span(text, seconds):
    assert render_seconds(text) == seconds


def test_placeholder_dates_and_non_dates_are_null(documented_job_message, documented_task_message):
    job = job_body(documented_job_message, "job-1", LATE_TICKS)
    job["JobDetails"].update(JobStartedDateTime="0001-01-01T00:00:00", JobSubmitDateTime="0001-01-01T00:00:00-05:00")
    values = row(history_item(job))  # the documented job's JobCompletedDateTime is 0001-01-01T00:00:00Z
    assert (values["submitted_at"], values["started_at"], values["completed_at"]) == (None, None, None)
    task = task_body(documented_task_message, "job-1", 1, LATE_TICKS)
    task["TaskDetails"].update(CompletedDateTime="not a date", RenderStartTime="2020-08-13T15:56:58")  # no offset
    values = row(history_item(task))
    assert (values["completed_at"], values["render_started_at"]) == (None, None)


def test_missing_fields_and_null_values_are_null(documented_task_message):
    body = task_body(documented_task_message, "job-1", 1, LATE_TICKS)
    for name in ("WorkerName", "RenderTime", "PeakRamUsageBytes", "NumberOfErrors"):
        del body["TaskDetails"][name]
    del body["NotificationInfo"]["StopReason"]
    item = history_item(body)
    item["task_details"]["M"]["FrameRange"] = {"NULL": True}  # as the documented Lambda stores ""
    values = row(item)
    missing = ("worker_name", "render_seconds", "peak_ram_bytes", "errors", "status_reason", "frame_range")
    assert {name: values[name] for name in missing} == dict.fromkeys(missing)


def test_a_value_of_the_wrong_type_is_null_not_a_wrong_value(documented_task_message):
    body = task_body(documented_task_message, "job-1", 1, LATE_TICKS)
    body["TaskDetails"].update(NumberOfErrors="many", PeakRamUsageBytes=1.5, RenderTime=600, WorkerName=42)
    values = row(history_item(body))
    assert (values["errors"], values["peak_ram_bytes"], values["render_seconds"]) == (None, None, None)
    assert values["worker_name"] == "42"  # a number reads as its text in a string column


@pytest.mark.parametrize(("offset_minutes", "dt", "hour"), [(0, "2024-03-04", "23"), (-300, "2024-03-04", "23"),
                                                            (60, "2024-03-04", "23")])
def test_the_partition_is_the_notifications_own_utc_day_and_hour_not_its_arrival(
    documented_job_message, offset_minutes, dt, hour
):
    body = job_body(documented_job_message, "job-1", LATE_TICKS)
    body["Timestamp"] = timestamp_text(LATE_TICKS, offset_minutes)
    values = row(history_item(body))
    assert (values["kind"], values["dt"], values["hour"]) == ("job", dt, hour)
    early = job_body(documented_job_message, "job-1", LATE_TICKS + 1)  # the next tick: the next day, hour 00
    assert (row(history_item(early))["dt"], row(history_item(early))["hour"]) == ("2024-03-05", "00")


def test_the_event_id_is_the_notifications_identity_as_in_the_timeline_and_the_events(documented_task_message):
    body = task_body(documented_task_message, "job-1", 1, LATE_TICKS)
    notification = parse_record(sqs_record(body))
    assert isinstance(notification, Notification)
    item = history_item(body)
    values = row(item)
    assert values["event_id"] == notification_id(notification.item) == item[HISTORY_SORT_KEY]["S"].split("#")[1]
    other = task_body(documented_task_message, "job-1", 2, LATE_TICKS)
    assert row(history_item(other))["event_id"] != values["event_id"]


def test_a_row_is_one_json_line(documented_task_message):
    line = json.dumps(row(history_item(task_body(documented_task_message, "job-1", 1, LATE_TICKS))))
    assert "\n" not in line
    assert json.loads(line)["task_id"] == 1


@pytest.mark.parametrize("timestamp", [None, {"S": "yesterday"}, {"N": "1"}])
def test_an_item_without_a_readable_timestamp_is_refused_with_the_reason(documented_task_message, timestamp):
    item = history_item(task_body(documented_task_message, "job-1", 1, LATE_TICKS))
    if timestamp is None:
        del item["timestamp"]
    else:
        item["timestamp"] = timestamp
    with pytest.raises(UnarchivableItem, match="Timestamp"):
        row(item)


def test_the_readers_page_lists_every_column_with_its_type_in_order():
    page = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    listed = re.findall(r"^\| `(\w+)` \| (string|bigint|double|timestamp) \|", page, re.MULTILINE)
    assert listed == [(column.name, column.glue_type) for column in COLUMNS]
