"""The demo's check of its reports: figures from the traffic, every difference named."""

from __future__ import annotations

import json

from deadline_sqs.reports.results import ReportResult
from local_pipeline.generator import GroundTruth, Message, Traffic, TrafficSettings, generate
from local_pipeline.report_check import expected_from, report_problems
from tests.unit.reports_support import at, job, task

RENDER_COLUMNS = ["day", "user_name", "department", "plugin", "pool", "task_attempts", "render_hours"]
WORKER_COLUMNS = ["worker", "failed_tasks", "jobs", "job_names", "first_failure", "last_failure"]


def traffic_of(*bodies: dict, repeat_first: bool = False) -> Traffic:
    messages = [Message(json.dumps(body)) for body in bodies]
    messages += [messages[0]] if repeat_first else []
    messages.append(Message("{not json", "not_json"))
    return Traffic(messages, GroundTruth(), len(bodies), int(repeat_first))


def reports(render_rows: list[tuple], worker_rows: list[tuple]) -> dict[str, ReportResult]:
    return {"render_hours": ReportResult(RENDER_COLUMNS, render_rows), "failing_workers": ReportResult(WORKER_COLUMNS, worker_rows)}


def test_the_traffics_figures_count_each_distinct_notification_once_and_unknown_jobs_as_unknown():
    traffic = traffic_of(
        task("job-1", 0, "w1", "failed", at(25, 10), "00:30:00"),
        task("job-1", 0, "w1", "completed", at(25, 11), "01:00:00"),
        task("job-1", 1, "w2", None, at(25, 11)),
        task("job-2", 0, "w1", "failed", at(26, 1), "00:06:00"),
        job("job-1", "sh010", "amy", "fx", "Nuke", "shots", "completed", at(25, 12), at(25, 9), at(25, 12)),
        repeat_first=True,
    )
    expected = expected_from(traffic)
    assert expected.render == {("2026-11-25", "amy"): (2, 1.5), ("2026-11-26", "(unknown)"): (1, 0.1)}
    assert expected.failures == {"w1": (2, {"sh010", "job-2"})}
    assert expected.since.isoformat() == "2026-11-25T00:00:00+00:00"
    matching = reports(
        [("2026-11-25", "amy", "fx", "Nuke", "shots", 2, 1.5), ("2026-11-26", "(unknown)", "x", "y", "z", 1, 0.1)],
        [("w1", 2, 2, "job-2, sh010", None, None)],
    )
    assert report_problems(matching, expected) == []
    wrong = reports(
        [("2026-11-25", "amy", "fx", "Nuke", "shots", 2, 1.51)],
        [("w1", 2, 2, "job-2, sh010", None, None), ("w9", 1, 1, "job-3", None, None)],
    )
    assert report_problems(wrong, expected) == [
        "render_hours 2026-11-25 amy: the report says 2 attempts, 1.51 h; the traffic has 2 attempts, 1.5000 h",
        "render_hours 2026-11-26 (unknown): the report says 0 attempts, 0.00 h; the traffic has 1 attempts, 0.1000 h",
        "failing_workers w9: the report says 1 failed tasks of ['job-3']; the traffic has 0 of []",
    ]


def test_the_figures_follow_whatever_failures_the_generator_makes():
    traffic = generate(TrafficSettings(seed=3, jobs=4, tasks_per_job=10, duplicate_rate=0.5))
    expected = expected_from(traffic)
    failed = {json.dumps(body) for body in (json.loads(m.body) for m in traffic.messages)
              if body.get("TaskDetails", {}).get("Status") == "Failed"}  # fmt: skip
    assert sum(count for count, _ in expected.failures.values()) == len(failed)
