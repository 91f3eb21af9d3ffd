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
