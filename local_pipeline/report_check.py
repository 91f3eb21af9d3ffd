"""The demo's reports (render hours by user, failing workers) on the local archive, checked against the traffic.

The expected figures come from the generated traffic itself, not from the archive: every
distinct valid notification (a body delivered twice counts once, as the history keeps it
once), each job's user and name from its own notification, RenderTime read here from the
body's `hh:mm:ss`. So the check holds whatever failures or workers the generator makes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from deadline_sqs.notifications import STOPPED_TASK
from deadline_sqs.reports import find_report
from deadline_sqs.reports.on_duckdb import run_local_report
from deadline_sqs.reports.results import ReportResult
from local_pipeline.generator import Traffic

DEMO_REPORTS = ("render_hours", "failing_workers")
UNKNOWN = "(unknown)"
# The report shows hours to two decimals: a row may differ from the exact figure by half of the last one.
HOURS_TOLERANCE = 0.005 + 1e-9


@dataclass(frozen=True)
class Expected:
    render: dict[tuple[str, str], tuple[int, float]]  # (day, user) -> (stopped attempts, hours)
    failures: dict[str, tuple[int, set[str]]]  # worker -> (failed tasks, job names or ids)
    since: datetime  # the day of the first notification


def _seconds(render_time: str) -> int:
    """The generator's RenderTime, `hh:mm:ss`, in seconds."""
    hours, minutes, seconds = (int(part) for part in render_time.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def expected_from(traffic: Traffic) -> Expected:
    bodies = [json.loads(text) for text in dict.fromkeys(m.body for m in traffic.messages if not m.invalid)]
    jobs = {body["JobDetails"]["JobID"]: body["JobDetails"] for body in bodies if "JobDetails" in body}
    render: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0])
    failures: dict[str, list] = defaultdict(lambda: [0, set()])
    for body in bodies:
        task = body.get("TaskDetails")
        if task is None or body["NotificationInfo"]["Name"] != STOPPED_TASK:
            continue
        job = jobs.get(task["JobID"])
        line = render[(body["Timestamp"][:10], job["UserName"] if job else UNKNOWN)]
        line[0] += 1
        line[1] += _seconds(task["RenderTime"])
        if task["Status"] == "Failed":
            failures[task["WorkerName"]][0] += 1
            failures[task["WorkerName"]][1].add(job["JobName"] if job else task["JobID"])
    first = min(body["Timestamp"][:10] for body in bodies)
    return Expected(
        {key: (count, seconds / 3600) for key, (count, seconds) in render.items()},
        {worker: (count, names) for worker, (count, names) in failures.items()},
        datetime.fromisoformat(first).replace(tzinfo=UTC),
    )


def demo_reports(folder: Path, since: datetime) -> dict[str, ReportResult]:
    return {name: run_local_report(find_report(name), folder, since) for name in DEMO_REPORTS}


def report_problems(reports: dict[str, ReportResult], expected: Expected) -> list[str]:
    """Every difference between the two reports and the traffic's figures."""
    render: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0])
    for row in reports["render_hours"].as_dicts():
        line = render[(row["day"], row["user_name"])]
        line[0] += row["task_attempts"]
        line[1] += row["render_hours"]
    problems = []
    for key in sorted(render.keys() | expected.render.keys()):
        found, wanted = render.get(key, (0, 0.0)), expected.render.get(key, (0, 0.0))
        rows = sum(1 for row in reports["render_hours"].rows if (row[0], row[1]) == key)
        if found[0] != wanted[0] or abs(found[1] - wanted[1]) > HOURS_TOLERANCE * max(rows, 1):
            problems.append(
                f"render_hours {key[0]} {key[1]}: the report says {found[0]} attempts, {found[1]:.2f} h; "
                f"the traffic has {wanted[0]} attempts, {wanted[1]:.4f} h"
            )
    workers = {
        row["worker"]: (row["failed_tasks"], set(row["job_names"].split(", ")))
        for row in reports["failing_workers"].as_dicts()
    }
    for worker in sorted(workers.keys() | expected.failures.keys()):
        found, wanted = workers.get(worker, (0, set())), expected.failures.get(worker, (0, set()))
        if found != wanted:
            problems.append(
                f"failing_workers {worker}: the report says {found[0]} failed tasks of {sorted(found[1])}; "
                f"the traffic has {wanted[0]} of {sorted(wanted[1])}"
            )
    return problems
