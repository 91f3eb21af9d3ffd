"""A small hand-made archive for the reports' tests: known jobs and tasks, written as the local pipeline writes it.

Every row goes the way a real notification goes: a Deadline body, the processor's parse
(parse_record), its history entry, archive.columns.row(), then the local archive's writer.
It holds a repeated row (as a Lambda or Firehose retry writes one), tasks of a job whose
notification never arrived, Deadline's placeholder dates, a RenderTime over a day, started
notifications (no render time) and a row before the period.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from archive.columns import row
from deadline_sqs.notifications import (
    UNSET_DATETIME,
    job_notification,
    notification_timestamp,
    studio_datetime,
    task_notification,
)
from local_pipeline.archive import write_archive
from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from tests.unit.processor_support import sqs_record

SINCE = datetime(2026, 11, 24, tzinfo=UTC)
NOW_SECONDS = 1_800_000_000
# What a Parquet file holds for each Glue type, as DuckDB reads it back.
PARQUET_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "timestamp": "TIMESTAMP"}


def parquet_columns(path) -> list[tuple[str, str]]:
    """The columns and types of one Parquet file, as DuckDB reads them (no partition columns: those are folders)."""
    with duckdb.connect(":memory:") as connection:
        described = connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}', hive_partitioning = false)")
        return [(name, kind) for name, kind, *_ in described.fetchall()]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def job(job_id: str, name: str, user: str, department: str, plugin: str, pool: str, event: str, when: datetime,
        submitted: datetime | None, completed: datetime | None = None, errors: int = 0) -> dict:  # fmt: skip
    details = {
        "JobID": job_id, "JobName": name, "UserName": user, "Department": department, "PluginName": plugin,
        "Pool": pool, "FrameRange": "1-10", "NumberOfTasks": 10, "NumberOfErrors": errors,
        "JobSubmitDateTime": studio_datetime(submitted) if submitted else UNSET_DATETIME,
        "JobCompletedDateTime": studio_datetime(completed) if completed else UNSET_DATETIME,
    }  # fmt: skip
    return job_notification(details, event, notification_timestamp(when))


def task(job_id: str, task_id: int, worker: str, stop: str | None, when: datetime, render_time: str = "00:00:00") -> dict:
    values = {
        "JobID": job_id, "TaskID": task_id, "FrameRange": f"{task_id + 1}-{task_id + 1}", "WorkerName": worker,
        "Source": "Worker-1", "TaskStartDateTime": studio_datetime(when), "RenderTime": render_time,
    }  # fmt: skip
    return task_notification(values, notification_timestamp(when), stop)


def archive_row(body: dict) -> dict:
    """The archive's row of `body`, by the processor's parse and its history entry."""
    notification = parse_record(sqs_record(json.dumps(body)))
    assert isinstance(notification, Notification), notification
    (entry,) = history_entries([notification], NOW_SECONDS, days=90)
    return row(entry.item)


def known_bodies() -> tuple[list[dict], list[dict]]:
    """(the distinct notifications, the ones delivered twice)."""
    repeated = [
        task("job-1", 0, "w1", "completed", at(25, 10), "01:00:00"),
        task("job-2", 0, "w2", "failed", at(26, 8), "1.02:00:00"),  # over a day
        job("job-2", "sh020_fx", "bo", "", "Houdini", "priority", "failed", at(26, 9), at(25, 6), errors=2),
    ]
    bodies = [
        *repeated,
        task("job-1", 0, "w1", None, at(25, 9)),  # started: no render time
        task("job-1", 1, "w2", "failed", at(25, 10, 30), "00:30:00"),
        task("job-1", 1, "w1", "completed", at(25, 11), "00:15:00"),
        task("job-1", 2, "w2", "requeued", at(25, 10, 45), "00:06:00"),
        job("job-1", "sh010_beauty", "amy", "lighting", "Arnold", "shots", "completed", at(25, 12), at(25, 8), at(25, 11, 30)),
        task("job-1", 3, "w1", "completed", at(22, 10), "10:00:00"),  # before the period
        task("job-2", 0, "w2", "failed", at(26, 8, 50), "00:10:00"),
        task("job-3", 0, "w3", "completed", at(26, 12), "02:00:00"),  # job-3's notification never arrived
        task("job-3", 1, "w2", "failed", at(26, 13), "00:20:00"),
        task("job-3", 2, "w3", "failed", at(26, 14), "00:00:30"),
        job("job-5", "sh050_anim", "amy", "anim", "Maya", "shots", "completed", at(24, 7, 0), at(24, 6), at(24, 7)),
        # Completed, but its submission date is Deadline's placeholder: no turnaround.
        job("job-6", "sh060_comp", "cy", "comp", "Nuke", "shots", "completed", at(26, 15), None, at(26, 15)),
    ]
    return bodies, repeated


def write_known_archive(folder: Path) -> int:
    bodies, repeated = known_bodies()
    return write_archive([archive_row(body) for body in bodies + repeated], folder)
