"""The failing-worker check's pure parts: which records are failures, the counting rule, the event."""

from __future__ import annotations

import json

import pytest

from farm_health import WORKER_FAILING_TYPE
from farm_health.alerts import alert_detail, alert_entry, event_id
from farm_health.failures import FILTER_PATTERN, failure_of
from farm_health.monitor import ConfigurationError, FarmHealthMonitor
from farm_health.window import Rule, WorkerState, add_failure, nearby
from status_events.changes import SOURCE, TEST_JOB_PREFIX
from tests.unit.farm_health_support import MINUTE, START, failure_record, history_image, history_record

RULE = Rule(jobs=3, minutes=30)


def _failure(template, job, task, minute, worker="render007", **kwargs):
    failure = failure_of(failure_record(template, job, task, minute, worker, **kwargs))
    assert failure is not None
    return failure


def _run(state, failures):
    alerts, counted = [], []
    for failure in failures:
        state, alert = add_failure(state, counted, failure, RULE)
        counted.append(failure)
        if alert:
            alerts.append(alert)
    return state, alerts


def test_a_failed_task_insert_is_a_failure_with_its_worker_job_time_id_and_reason(documented_task_message):
    image = history_image(documented_task_message, "job-a", 4, START, "render007", reason="Error: out of memory")
    failure = failure_of(history_record(image))
    assert failure is not None
    assert (failure.worker, failure.job_id, failure.task_id, failure.ticks) == ("render007", "job-a", 4, START)
    assert failure.reason == "Error: out of memory"
    assert image["timeline"]["S"].endswith("#" + failure.notification_id)


@pytest.mark.parametrize(
    ("status", "event_name", "worker"),
    [("Completed", "INSERT", "render007"), ("Failed", "MODIFY", "render007"), ("Failed", "REMOVE", "render007"),
     ("Failed", "INSERT", "")],
)  # fmt: skip
def test_anything_else_is_no_failure(documented_task_message, status, event_name, worker):
    image = history_image(documented_task_message, "job-a", 4, START, worker, status=status)
    assert failure_of(history_record(image, event_name)) is None


def test_a_job_entry_is_no_failure(documented_job_message):
    from tests.unit.status_events_support import job_item

    image = job_item(documented_job_message, "job-a", START, "Failed") | {"timeline": {"S": "x#y"}}
    assert failure_of(history_record(image)) is None


def test_the_event_filter_names_the_stored_task_status_as_the_reader_does():
    assert FILTER_PATTERN == {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"task_details": {"M": {"Status": {"S": ["Failed"]}}}}}}


def test_failures_of_enough_distinct_jobs_within_the_window_alert_once(documented_task_message):
    t = documented_task_message
    failures = [_failure(t, "job-a", 1, 0), _failure(t, "job-a", 2, 1), _failure(t, "job-b", 1, 5),
                _failure(t, "job-c", 1, 20), _failure(t, "job-d", 1, 25)]  # fmt: skip
    state, alerts = _run(WorkerState("render007"), failures)
    assert len(alerts) == 1
    assert [f.job_id for f in alerts[0].failures] == ["job-a", "job-a", "job-b", "job-c"]
    assert alerts[0].trigger == failures[3].notification_id
    assert state.failed == 5 and state.pending == (alerts[0],)


def test_the_window_holds_failures_exactly_its_length_apart_and_not_one_tick_more(documented_task_message):
    t = documented_task_message
    at_the_edge = [_failure(t, "job-a", 1, 0), _failure(t, "job-b", 1, 10), _failure(t, "job-c", 1, 30)]
    assert len(_run(WorkerState("render007"), at_the_edge)[1]) == 1
    past_it = [*at_the_edge[:2], _failure(t, "job-c", 1, 30 + 1 / (60 * 10_000_000))]  # one tick later
    assert past_it[2].ticks == at_the_edge[2].ticks + 1
    assert _run(WorkerState("render007"), past_it)[1] == []


def test_a_stale_failure_completes_a_window_as_a_fresh_one_does(documented_task_message):
    t = documented_task_message
    # Reported last, happened first: the window it completes is by Timestamps, not by arrival.
    failures = [_failure(t, "job-b", 1, 10), _failure(t, "job-c", 1, 20), _failure(t, "job-a", 1, 0)]
    _, alerts = _run(WorkerState("render007"), failures)
    assert len(alerts) == 1 and {f.job_id for f in alerts[0].failures} == {"job-a", "job-b", "job-c"}


def test_a_worker_that_keeps_failing_alerts_again_once_a_full_window_has_passed(documented_task_message):
    t = documented_task_message
    jobs = ["job-a", "job-b", "job-c"]
    # A failure every 5 minutes for two hours, cycling through three jobs.
    failures = [_failure(t, jobs[n % 3], n, 5 * n) for n in range(25)]
    _, alerts = _run(WorkerState("render007"), failures)
    ends = [(alert.window_end - START) // MINUTE for alert in alerts]
    assert ends == [10, 40, 70, 100]  # the first at the third job, then each a full window after the last


def test_the_same_jobs_again_within_the_window_after_an_alert_do_not_alert(documented_task_message):
    t = documented_task_message
    failures = [_failure(t, job, n, n) for n, job in enumerate(["job-a", "job-b", "job-c", "job-d", "job-e", "job-f"])]
    assert len(_run(WorkerState("render007"), failures)[1]) == 1


def test_other_workers_are_counted_apart(documented_task_message):
    t = documented_task_message
    failures = [_failure(t, "job-a", 1, 0, "render001"), _failure(t, "job-b", 1, 1, "render002"),
                _failure(t, "job-c", 1, 2, "render003")]  # fmt: skip
    assert all(_run(WorkerState(f.worker), [f])[1] == [] for f in failures)


def test_a_failure_is_decided_on_the_failures_a_window_either_side_and_one_counted_before_changes_nothing(
    documented_task_message,
):
    t = documented_task_message
    failure = _failure(t, "job-c", 1, 60)
    assert nearby(failure, RULE) == (failure.ticks - 30 * MINUTE, failure.ticks + 30 * MINUTE)
    far = [_failure(t, "job-a", 1, 29), _failure(t, "job-b", 1, 91)]  # just outside either side
    state, alert = add_failure(WorkerState("render007"), far, failure, RULE)
    assert alert is None and state.failed == 1
    assert add_failure(state, [failure], failure, RULE) == (state, None)


def test_the_event_names_jobs_by_name_where_known_else_by_id_and_says_test_only_when_all_are(documented_task_message):
    t = documented_task_message
    failures = [_failure(t, "job-a", 1, 0, reason="Error: A"), _failure(t, "job-b", 1, 1, reason="Error: B"),
                _failure(t, "job-c", 1, 2, reason="Error: A")]  # fmt: skip
    (alert,) = _run(WorkerState("render007"), failures)[1]
    detail = alert_detail(alert, "default", {"job-a": "shot010_lighting"})
    assert detail["jobs"] == [{"jobId": "job-a", "jobName": "shot010_lighting"}, {"jobId": "job-b", "jobName": "job-b"},
                              {"jobId": "job-c", "jobName": "job-c"}]  # fmt: skip
    assert detail["failedTasks"] == 3 and detail["workerName"] == "render007" and detail["studio"] == "default"
    assert (detail["firstFailure"], detail["lastFailure"]) == (failures[0].timestamp, failures[2].timestamp)
    assert detail["reasons"] == ["Error: A", "Error: B"]
    assert detail["eventId"] == event_id(alert) and len(detail["eventId"]) == 32
    assert "test" not in detail
    assert detail["summary"].startswith("render007 failed 3 tasks of 3 jobs (shot010_lighting, job-b, job-c) from ")
    entry = alert_entry(alert, "default", "bus", {})
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (SOURCE, WORKER_FAILING_TYPE, "bus")
    assert json.loads(entry["Detail"])["eventId"] == detail["eventId"]

    tests = [_failure(t, f"{TEST_JOB_PREFIX}{n}", 1, n) for n in range(3)]
    (test_alert,) = _run(WorkerState("render007"), tests)[1]
    assert alert_detail(test_alert, "default", {})["test"] is True


def test_a_monitor_without_its_environment_names_every_missing_variable():
    with pytest.raises(ConfigurationError, match="WORKER_FAILURE_TABLE, DYNAMODB_JOB_INFO_TABLE, EVENT_BUS_NAME"):
        FarmHealthMonitor.from_environment({"STUDIO_NAME": "x"}, dynamodb=object(), events=object())
    with pytest.raises(ConfigurationError, match="whole numbers"):
        FarmHealthMonitor.from_environment(
            {"WORKER_FAILURE_TABLE": "s", "DYNAMODB_JOB_INFO_TABLE": "j", "EVENT_BUS_NAME": "b", "STUDIO_NAME": "x",
             "FAILING_WORKER_JOBS": "three", "FAILING_WORKER_MINUTES": "30"}, dynamodb=object(), events=object())  # fmt: skip
