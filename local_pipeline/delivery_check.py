"""What the local sender delivered, checked against the status-change events the demo already validated.

- Each artist of the generated farm (a local queue subscribed with the filter policy `deadline-sqs
  subscribe` sets) receives exactly one message per change of their jobs' stored status into the
  artists' statuses (job_notification_statuses), and none for a job opted out (notifyOptOut "off").
- Each chat channel (a local queue standing in for Amazon Q Developer's subscription) receives exactly one
  custom notification per job event its rule's pattern (the deployed one, matched by moto's own EventBridge
  matcher) lets through, with that job's title.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from moto.events.models import EventPattern

from deliveries.message import message_fields
from deliveries.sender import OPT_OUT_FIELD, OPT_OUT_VALUE
from local_pipeline.event_check import PublishedEvent
from local_pipeline.spec import RuleSpec
from notification_processor.roles import JOB, TABLE_ROLES
from status_events.changes import SOURCE, TEST_FIELD, status_change_type

CUSTOM_NOTIFICATION = {"version": "1.0", "source": "custom"}  # Amazon Q Developer's custom notifications


@dataclass(frozen=True)
class DeliveryReport:
    artists: dict[str, int]  # user -> messages received
    opted_out: int  # job events the artists' rule matched whose job opted out
    chats: dict[str, int]  # channel -> messages received
    dead_letters: int


def _job_events(events: list[PublishedEvent]) -> list[PublishedEvent]:
    job_type = status_change_type(TABLE_ROLES[JOB])
    return [event for event in events if event.detail_type == job_type and not event.detail.get(TEST_FIELD)]


def _opted_out(event: PublishedEvent) -> bool:
    value = event.detail.get(OPT_OUT_FIELD)
    return isinstance(value, str) and value.strip().lower() == OPT_OUT_VALUE


def artist_problems(received: dict[str, list[str]], events: list[PublishedEvent], statuses: list[str]) -> list[str]:
    """``received``: per artist, the bodies of their queue (the structured JSON: the event's detail and a title)."""
    expected: dict[str, Counter] = {user: Counter() for user in received}
    for event in _job_events(events):
        if event.detail.get("status") in statuses and not _opted_out(event):
            expected.setdefault(event.detail.get("userName", ""), Counter())[event.detail["eventId"]] += 1
    problems = []
    for user in sorted(expected):
        got = Counter(json.loads(body).get("eventId") for body in received.get(user, []))
        if user not in received:
            problems.append(f"artist {user}: {sum(expected[user].values())} job changes but no local subscription")
            continue
        for event_id in sorted((got - expected[user]) | (expected[user] - got)):
            problems.append(f"artist {user}: event {event_id} received {got[event_id]} times, expected {expected[user][event_id]}")
    return problems


def opted_out_count(events: list[PublishedEvent], statuses: list[str]) -> int:
    return sum(1 for e in _job_events(events) if e.detail.get("status") in statuses and _opted_out(e))


def chat_problems(received: dict[str, list[str]], events: list[PublishedEvent], rules: dict[str, RuleSpec]) -> list[str]:
    """``received``: per channel, the bodies of its queue; ``rules``: per channel, its rule."""
    problems = []
    for channel, bodies in sorted(received.items()):
        pattern = EventPattern.load(json.dumps(rules[channel].event_pattern))
        matched = [
            e for e in events
            if pattern.matches_event({"source": SOURCE, "detail-type": e.detail_type, "detail": e.detail})
        ]  # fmt: skip
        expected = Counter(message_fields({"detail-type": e.detail_type, "detail": e.detail})["title"] for e in matched)
        messages = [json.loads(body) for body in bodies]
        wrong = [m for m in messages if {k: m.get(k) for k in CUSTOM_NOTIFICATION} != CUSTOM_NOTIFICATION
                 or not m.get("content", {}).get("description")]  # fmt: skip
        problems += [f"chat {channel}: not a custom notification: {json.dumps(m)[:120]}" for m in wrong]
        got = Counter(m.get("content", {}).get("title") for m in messages)
        for title in sorted((got - expected) | (expected - got), key=str):
            problems.append(f"chat {channel}: {title!r} received {got[title]} times, expected {expected[title]}")
    return problems
