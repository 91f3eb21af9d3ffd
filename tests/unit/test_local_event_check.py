"""The demo's check of status-change events: it passes on exactly the right events and names each kind of wrong one."""

from __future__ import annotations

import dataclasses

import pytest

from local_pipeline.event_check import PublishedEvent, alert_problems, event_problems, sent_statuses
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.spec import RuleSpec
from notification_processor.roles import JOB, TABLE_ROLES
from notification_processor.timestamps import deadline_form
from status_events.changes import DETAIL_FIELDS, status_change_type

TRAFFIC = generate(TrafficSettings(seed=3, jobs=2, tasks_per_job=3))


def events_in_time_order() -> list[PublishedEvent]:
    """The right events for traffic stored in the order it happened: one per change of status."""
    events = []
    for (kind, key), statuses in sent_statuses(TRAFFIC).items():
        role = TABLE_ROLES[kind]
        previous = None
        for ticks, status in sorted(statuses.items()):
            if status == previous:
                continue
            detail = {DETAIL_FIELDS[a.source_field]: value for a, value in zip(role.key, key, strict=True)}
            detail |= {"status": status, "timestamp": deadline_form(ticks), "eventId": f"{kind}-{key}-{ticks}"}
            if previous is not None:
                detail["previousStatus"] = previous
            events.append(PublishedEvent(status_change_type(role), detail))
            previous = status
    return events


def problems(events: list[PublishedEvent]) -> list[str]:
    return event_problems(events, TRAFFIC, TRAFFIC.truth)


def with_detail(event: PublishedEvent, **changes) -> PublishedEvent:
    return dataclasses.replace(event, detail={**event.detail, **changes})


def test_the_right_events_pass():
    assert problems(events_in_time_order()) == []


def test_a_missing_event_in_the_middle_breaks_the_chain():
    events = events_in_time_order()
    middle = next(i for i, e in enumerate(events) if "previousStatus" in e.detail and i + 1 < len(events)
                  and events[i + 1].key == e.key)
    del events[middle]
    assert any("but the event before said" in p for p in problems(events))


def test_a_missing_last_event_leaves_the_final_status_unannounced():
    events = events_in_time_order()
    last_of_a_key = max(i for i, e in enumerate(events) if e.key == events[0].key)
    del events[last_of_a_key]
    assert any("the table holds" in p or "no event was published" in p for p in problems(events))


def test_a_duplicate_published_twice_is_found():
    events = events_in_time_order()
    assert any("more than once" in p for p in problems([*events, events[3]]))


def test_an_event_for_a_stale_notification_is_found():
    events = events_in_time_order()
    first = events[0]
    stale = with_detail(first, previousStatus=events[1].detail["status"] if events[1].key == first.key else "X")
    assert problems([*events, stale])  # out of time order, wrong chain, repeated id


def test_an_event_with_another_status_than_its_notification_is_found():
    events = events_in_time_order()
    events[0] = with_detail(events[0], status="Teleported")
    assert any("event status Teleported" in p for p in problems(events))


def test_an_event_without_a_status_change_is_found():
    events = events_in_time_order()
    i = next(i for i, e in enumerate(events) if "previousStatus" in e.detail)
    events[i] = with_detail(events[i], previousStatus=events[i].detail["status"])
    assert any("without a status change" in p for p in problems(events))


def test_an_event_of_another_type_is_found():
    assert any("unexpected type" in p for p in problems([*events_in_time_order(), PublishedEvent("Something", {})]))


RULES = [RuleSpec("Alerts", {"detail": {"status": ["Failed"]}}, None, "sns")]


@pytest.mark.parametrize("drop, expected", [(0, []), (1, ["1 alerts for 2 job events"])])
def test_alerts_match_the_job_events_the_rules_name(drop, expected):
    job_type = status_change_type(TABLE_ROLES[JOB])
    failed = [PublishedEvent(job_type, {"jobId": f"job-{n}", "status": "Failed"}) for n in range(2)]
    completed = PublishedEvent(job_type, {"jobId": "job-9", "status": "Completed"})
    alerts = [f"Deadline job x (job-{n}) of u is Failed" for n in range(2 - drop)]
    found = alert_problems(alerts, [*failed, completed], RULES)
    assert [p for p in found if "alerts for" in p] == [p + " with status Failed" for p in expected]


WORKER_TRAFFIC = generate(TrafficSettings(seed=3, jobs=20, tasks_per_job=50, failing_worker=True))


def _worker_event(**changes) -> PublishedEvent:
    own = [f for f in WORKER_TRAFFIC.failures if f.worker == WORKER_TRAFFIC.failing_worker]
    jobs = list(dict.fromkeys(f.job_id for f in own))[:3]
    window = [f for f in own if f.job_id in jobs][:3]
    detail = {
        "workerName": WORKER_TRAFFIC.failing_worker, "jobs": [{"jobId": job, "jobName": job} for job in jobs],
        "failedTasks": 3, "firstFailure": deadline_form(_epoch_ticks(window[0].tick)),
        "lastFailure": deadline_form(_epoch_ticks(window[-1].tick)), "eventId": "e1",
    }  # fmt: skip
    return PublishedEvent("Deadline Worker Failing Tasks", detail | changes)


def _epoch_ticks(tick: int) -> int:
    from local_pipeline.farm import EPOCH, SECOND

    return int(EPOCH.timestamp()) * SECOND + tick


def test_the_failing_worker_event_the_ground_truth_expects_passes_and_anything_else_is_found():
    from local_pipeline.event_check import worker_event_problems

    right = _worker_event()
    assert worker_event_problems([right], WORKER_TRAFFIC, 3, 30) == []
    assert event_problems([right], WORKER_TRAFFIC, WORKER_TRAFFIC.truth) == [
        p for p in event_problems([], WORKER_TRAFFIC, WORKER_TRAFFIC.truth)
    ]  # not a status change: checked on its own
    assert any("0 failing-worker events, the ground truth says 1" in p for p in worker_event_problems([], WORKER_TRAFFIC, 3, 30))
    assert any("published more than once" in p for p in worker_event_problems([right, right], WORKER_TRAFFIC, 3, 30))
    few = _worker_event(jobs=right.detail["jobs"][:2])
    assert any("not 3 or more it failed tasks of" in p for p in worker_event_problems([few], WORKER_TRAFFIC, 3, 30))
    other = _worker_event(workerName="render001")
    assert any("render001: 1 failing-worker events, the ground truth says 0" in p
               for p in worker_event_problems([other], WORKER_TRAFFIC, 3, 30))  # fmt: skip


def test_a_failing_worker_event_needs_an_alert_line_naming_the_worker_when_a_rule_sends_them():
    rules = [*RULES, RuleSpec("Workers", {"detail-type": ["Deadline Worker Failing Tasks"]}, None, "sns")]
    event = _worker_event()
    line = f'"Deadline worker {WORKER_TRAFFIC.failing_worker} is failing tasks (studio default): ..."'
    assert alert_problems([line], [event], rules) == []
    assert alert_problems([], [event], rules) == [
        "0 alerts for 0 job events with status Failed and 1 failing-worker events",
        f"no alert names failing worker {WORKER_TRAFFIC.failing_worker}",
    ]
    assert alert_problems([], [event], RULES) == []  # no rule sends them: no line expected
