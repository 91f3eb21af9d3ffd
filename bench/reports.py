"""Reports at scale: a month of a busy farm (1 million notifications) as the local archive, and a week's report on it.

The month is generated in DuckDB, vectorised (a few seconds, no Python loop per row): JOBS
jobs submitted evenly over DAYS days, TASKS_PER_JOB tasks each, every task attempt a
started and a stopped notification, FAILED_SHARE of the tasks failing once and rendering
again, one job notification per job, and REPEATED_SHARE of the rows written twice (as
Lambda and Firehose retries do). Every column of archive.columns.COLUMNS is written (the
ones a busy farm leaves empty as NULL), partitioned like the bucket (kind=/dt=/hour=), by
the local archive's own writer (local_pipeline.archive.copy_to_archive).

Measured: the archive's Parquet bytes per million notifications; for render_hours over the
month's last week, the files and bytes DuckDB read (its profiler: the partitions its
`dt >=` filter kept) against all the archive's, DuckDB's time (median of RUNS, view and
glob included), and Athena's cost of that report ($5 per TB scanned, 10 MB minimum) next
to one Scan of the history table that holds the same notifications (the table's size x
on-demand read price: a Scan reads every item, whatever the period). The bytes Athena
scans are at most the partitions' file bytes (it reads only the columns a query uses, so
less): the cost shown is that upper bound. The history item's size is measured on items
the processor builds from the generator's notifications.

    .venv/bin/python -m bench.reports [--notifications 1000000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from archive.columns import COLUMNS
from bench import results
from bench.costmodel import ATHENA_MIN_BYTES, ATHENA_TB_USD, DYNAMODB_READ_UNIT_USD
from deadline_sqs.reports import find_report
from deadline_sqs.reports.on_duckdb import LOCAL_TABLE, archive_view, connect, run_local_report
from local_pipeline.archive import DUCKDB_TYPES, copy_to_archive
from local_pipeline.generator import TrafficSettings, generate
from notification_processor.attributes import item_size
from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record

NOTIFICATIONS = 1_000_000
DAYS = 30
MONTH_END = datetime(2026, 12, 1, tzinfo=UTC)
TASKS_PER_JOB = 40
FAILED_SHARE = 0.03  # of the tasks: one failed attempt before the one that completes
REPEATED_SHARE = 0.01  # of the rows: written twice
WORKERS = 400
RUNS = 3
REPORT = "render_hours"
WEEK = timedelta(days=7)
MAX_SECONDS = 5.0
MAX_EDGE_PARTITIONS = 1  # per edge of the week, per kind: the since day (read whole) and the day after the month
SAMPLE_JOBS = 5  # generated jobs whose history items give the item size
READ_UNIT_BYTES = 4096
EVENTUALLY_CONSISTENT_UNITS = 0.5  # a Scan's read units per 4 KB, eventually consistent (its default)

USERS = ["amelie", "bjorn", "chen", "dara", "emeka", "farah", "gus", "hana", "ivo", "jun"]
DEPARTMENTS = ["lighting", "fx", "comp", "lookdev", "anim"]
PLUGINS = ["MayaBatch", "Arnold", "Houdini", "Nuke", "Blender", "VRay"]
POOLS = ["none", "shots", "priority"]


def jobs_for(notifications: int) -> int:
    """Jobs whose notifications (a job one, then 2 per attempt) come to about `notifications`."""
    per_job = 1 + 2 * TASKS_PER_JOB * (1 + FAILED_SHARE)
    return max(1, round(notifications / per_job))


def _pick(options: list[str], seed: str) -> str:
    return f"list_extract({options!r}, 1 + (hash({seed}) % {len(options)})::INTEGER)"


def month_sql(jobs: int) -> str:
    """Every row of the generated month (COLUMNS and PARTITION_COLUMNS), repeats included."""
    start = MONTH_END - timedelta(days=DAYS)
    spacing = DAYS * 86_400 / jobs
    job_values = {
        "job_id": "substr(md5('job' || j), 1, 24)",
        "job_name": "'sq' || lpad((j % 400)::VARCHAR, 3, '0') || '_sh' || lpad((j % 9000)::VARCHAR, 4, '0')",
        "user_name": _pick(USERS, "j"),
        "department": _pick(DEPARTMENTS, "j + 1"),
        "pool": _pick(POOLS, "j + 2"),
        "group_name": "'none'",
        "plugin_name": _pick(PLUGINS, "j + 3"),
        "priority": "50::BIGINT",
        "task_count": f"{TASKS_PER_JOB}::BIGINT",
        "frame_range": f"'1-{TASKS_PER_JOB}'",
        "status": "CASE WHEN hash(j + 4) % 20 = 0 THEN 'Failed' ELSE 'Completed' END",
        "notification_name": "CASE WHEN hash(j + 4) % 20 = 0 THEN 'JobFailedNotification' ELSE 'JobCompletedNotification' END",
        "errors": "0::BIGINT",
        "submitted_at": "submitted",
        "started_at": "submitted + INTERVAL 1 MINUTE",
        "completed_at": "CASE WHEN hash(j + 4) % 20 = 0 THEN NULL ELSE finished END",
        "notified_at": "finished + INTERVAL 5 SECOND",
    }
    task_values = {
        "job_id": "substr(md5('job' || j), 1, 24)",
        "task_id": "t::BIGINT",
        "frame_range": "(t + 1) || '-' || (t + 1)",
        "status": "CASE WHEN NOT stopped THEN 'Rendering' WHEN failed THEN 'Failed' ELSE 'Completed' END",
        "notification_name": "CASE WHEN stopped THEN 'StoppedTaskNotification' ELSE 'StartedTaskNotification' END",
        "worker_name": f"'render' || lpad((hash(j * 64 + t + attempt) % {WORKERS})::VARCHAR, 3, '0')",
        "errors": "attempt::BIGINT",
        "render_seconds": "CASE WHEN stopped THEN render ELSE 0 END",
        "started_at": "began",
        "render_started_at": "began + INTERVAL 2 SECOND",
        "completed_at": "CASE WHEN stopped AND NOT failed THEN began + to_seconds(render) END",
        "peak_cpu_percent": "CASE WHEN stopped THEN 100.0 END",
        "peak_ram_bytes": "CASE WHEN stopped THEN (hash(j + t) % 96 + 2) * 1073741824 END",
        "peak_ram_percent": "CASE WHEN stopped THEN (hash(j + t + 5) % 60 + 40)::DOUBLE END",
        "notified_at": "CASE WHEN stopped THEN began + to_seconds(render) ELSE began END",
    }

    def select(values: dict, kind: str, identity: str) -> str:
        columns = [
            f"CAST({values.get(column.name, 'NULL')} AS {DUCKDB_TYPES[column.glue_type]}) AS {column.name}"
            for column in COLUMNS
            if column.name != "event_id"
        ]
        return f"SELECT md5({identity}) AS event_id, {', '.join(columns)}, '{kind}' AS kind"

    return f"""
        WITH job AS (
            SELECT j, TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_seconds(j * {spacing}) AS submitted,
                   TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_seconds(j * {spacing} + 3600 + hash(j) % 7200) AS finished
            FROM range({jobs}) r(j)
        ),
        attempt AS (
            SELECT j, t, attempt, submitted,
                   submitted + to_seconds(60 + (t // 8) * 700 + attempt * 950 + hash(j * 64 + t) % 60) AS began,
                   (30 + hash(j * 64 + t + attempt) % 870)::DOUBLE AS render,
                   attempt = 0 AND hash(j * 64 + t) % 1000 < {int(FAILED_SHARE * 1000)} AS failed
            FROM job, range({TASKS_PER_JOB}) tasks(t), range(2) attempts(attempt)
            WHERE attempt = 0 OR hash(j * 64 + t) % 1000 < {int(FAILED_SHARE * 1000)}
        ),
        notification AS (
            SELECT j, t, attempt, submitted, began, render, failed, stopped
            FROM attempt, (VALUES (false), (true)) phases(stopped)
        ),
        rows AS (
            {select(job_values, "job", "'job' || j")} FROM job
            UNION ALL
            {select(task_values, "task", "'task' || j || '/' || t || '/' || attempt || '/' || stopped")} FROM notification
        ),
        dated AS (
            SELECT *, strftime(notified_at, '%Y-%m-%d') AS dt, strftime(notified_at, '%H') AS hour FROM rows
        )
        SELECT * FROM dated
        UNION ALL
        SELECT * FROM dated WHERE hash(event_id) % 1000 < {int(REPEATED_SHARE * 1000)}
    """


def write_month(folder: Path, notifications: int) -> dict:
    """The generated month written as the archive in `folder`: rows, distinct notifications, seconds."""
    connection = duckdb.connect(":memory:")
    try:
        started = time.perf_counter()
        copy_to_archive(connection, month_sql(jobs_for(notifications)), folder)
        seconds = time.perf_counter() - started
        rows, distinct = connection.execute(
            f"SELECT count(*), count(DISTINCT event_id) FROM read_parquet('{folder}/*/*/*/*.parquet')"
        ).fetchone()
    finally:
        connection.close()
    return {"rows": rows, "notifications": distinct, "seconds": seconds}


def files_of(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("kind=*/dt=*/hour=*/*.parquet"))


def scan_profile(folder: Path, sql: str) -> dict:
    """What DuckDB's profiler says the query read: files scanned of those it knew, and bytes."""
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "profile.json"
        connection = connect()
        try:
            archive_view(connection, folder)
            connection.execute("PRAGMA enable_profiling = 'json'")
            connection.execute(f"PRAGMA profiling_output = '{output}'")
            connection.execute(sql).fetchall()
            connection.execute("PRAGMA disable_profiling")
        finally:
            connection.close()
        profile = json.loads(output.read_text())
    scans = [info for info in _operators(profile) if info.get("Function") == "READ_PARQUET"]
    read, known = (int(part) for part in scans[0]["Scanning Files"].split("/"))
    return {"files_read": read, "files_known": known, "bytes_read": profile["io"]["total_bytes_read"],
            "file_filters": scans[0].get("File Filters", "")}  # fmt: skip


def _operators(node: dict):
    for child in node.get("operator", []) + node.get("children", []):
        yield child.get("extra_info", {})
        yield from _operators(child)


def history_item_bytes() -> float:
    """The mean size of a history item the processor builds from the generator's notifications (DynamoDB's count)."""
    traffic = generate(TrafficSettings(seed=1, jobs=SAMPLE_JOBS, tasks_per_job=TASKS_PER_JOB))
    sizes = []
    for number, message in enumerate(traffic.messages):
        notification = parse_record({"messageId": str(number), "body": message.body,
                                     "attributes": {"SentTimestamp": "1709560800000"}})  # fmt: skip
        if isinstance(notification, Notification):
            (entry,) = history_entries([notification], 1_709_560_800, days=90)
            sizes.append(item_size(entry.item))
    return statistics.fmean(sizes)


def measure(notifications: int = NOTIFICATIONS, runs: int = RUNS) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench-reports-")) / "archive"
    try:
        written = write_month(folder, notifications)
        files = files_of(folder)
        total_bytes = sum(path.stat().st_size for path in files)
        since = MONTH_END - WEEK
        report = find_report(REPORT)
        week_files = [path for path in files if path.parent.parent.name >= f"dt={since:%Y-%m-%d}"]
        week_bytes = sum(path.stat().st_size for path in week_files)
        profile = scan_profile(folder, report.sql(LOCAL_TABLE, since))
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            result = run_local_report(report, folder, since)
            seconds.append(time.perf_counter() - started)
        days = sorted({path.parent.parent.name for path in week_files})
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    item_bytes = history_item_bytes()
    table_bytes = item_bytes * written["notifications"]
    scan_units = table_bytes / READ_UNIT_BYTES * EVENTUALLY_CONSISTENT_UNITS
    return {
        "settings": {"notifications": notifications, "days": DAYS, "tasks_per_job": TASKS_PER_JOB,
                     "failed_share": FAILED_SHARE, "repeated_share": REPEATED_SHARE, "report": REPORT,
                     "since": since.isoformat(), "runs": runs},
        "written": written,
        "files": len(files),
        "bytes": total_bytes,
        "bytes_per_million": total_bytes / written["notifications"] * 1_000_000,
        "week": {"files": len(week_files), "bytes": week_bytes, "days": days, "result_rows": len(result.rows)},
        "profile": profile,
        "duckdb_seconds": statistics.median(seconds),
        "athena_usd": max(week_bytes, ATHENA_MIN_BYTES) / 1e12 * ATHENA_TB_USD,
        "history_item_bytes": item_bytes,
        "dynamodb_scan": {"table_bytes": table_bytes, "read_units": scan_units, "usd": scan_units * DYNAMODB_READ_UNIT_USD},
    }


def text(measured: dict, markdown: bool = False) -> str:
    written, week, profile = measured["written"], measured["week"], measured["profile"]
    scan = measured["dynamodb_scan"]
    rows = [
        ["archive", f"{written['notifications']:,} notifications + {written['rows'] - written['notifications']:,} repeats",
         f"{measured['files']:,} files", f"{measured['bytes'] / 1e6:.1f} MB",
         f"{measured['bytes_per_million'] / 1e6:.1f} MB per million notifications"],
        [f"{measured['settings']['report']} since {measured['settings']['since'][:10]}",
         f"days {week['days'][0][3:]} to {week['days'][-1][3:]} ({len(week['days'])} dt partitions per kind)",
         f"{profile['files_read']:,} of {profile['files_known']:,} files read",
         f"{week['bytes'] / 1e6:.1f} MB in them ({profile['bytes_read'] / 1e6:.1f} MB read by DuckDB)",
         f"DuckDB {measured['duckdb_seconds']:.2f} s (median of {measured['settings']['runs']})"],
        ["cost of that report", f"Athena <= ${measured['athena_usd']:.6f} ($5 per TB, 10 MB minimum)",
         f"DynamoDB Scan ${scan['usd']:.4f}",
         f"{scan['table_bytes'] / 1e6:.0f} MB table ({measured['history_item_bytes']:.0f} B per history item)",
         f"{scan['read_units']:,.0f} read units, eventually consistent"],
    ]  # fmt: skip
    return (f"A generated month ({measured['settings']['days']} days) written in {written['seconds']:.1f} s:\n\n"
            + results.format_table(["", "what", "files", "bytes", "figure"], rows, markdown))


def targets(measured: dict) -> list[results.Target]:
    week, profile = measured["week"], measured["profile"]
    extra = profile["files_read"] - week["files"]
    return [
        results.Target(
            "a week's report reads only its week's partitions (plus at most one at each edge)",
            profile["files_read"] == week["files"] and len(week["days"]) <= 7 + 2 * MAX_EDGE_PARTITIONS,
            f"{profile['files_read']} files read, {week['files']} in dt >= since ({len(week['days'])} days; {extra} others)",
        ),
        results.Target(f"DuckDB answers it within {MAX_SECONDS:g} s", measured["duckdb_seconds"] <= MAX_SECONDS,
                       f"{measured['duckdb_seconds']:.2f} s"),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--notifications", type=int, default=NOTIFICATIONS,
                        help=f"notifications in the month (default {NOTIFICATIONS:,})")  # fmt: skip


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.notifications)


if __name__ == "__main__":
    results.run_alone("reports", sys.modules[__name__])
