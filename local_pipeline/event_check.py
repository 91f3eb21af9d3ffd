"""The status-change events a local run published, checked against the traffic and the tables.

With reordering, the statuses a job or task goes through in its stored item are not
all the statuses Deadline sent: a newer notification stored first makes the older ones
stale, and they are never stored. So what is expected is defined by what was stored
over time, and checked from both ends. For every job and task:

1. every event names a notification of that key that was sent, and carries its status
   (no event for a notification never sent, none with another status);
2. its events, in Timestamp order, have strictly increasing Timestamps and distinct
   event ids (no event for a duplicate, none for a notification older than one already
   stored: those never change the stored item);
3. they form a chain: the first has no previous status, every later one's previous
   status is the status of the one before, and no event repeats its previous status
   (one event per change of the stored status, none missing in between);
4. the last one's status is the status the table ends with, and a key stored with a
   status has at least one event (none missing at either end).
Nothing else may be published: every event's detail-type is a status change of a job
or a task, and nothing may be left in the failure queue. The alert rules' stand-in
queue must hold one line per job event whose status a rule names, naming that job.

Failing-worker events (`Deadline Worker Failing Tasks`) are checked on their own against
the generator's ground truth (generator.worker_alerts): exactly as many per worker, each
once (distinct event ids), each naming enough distinct jobs the worker failed tasks of,
within one window; the alert queue holds one line per event, naming its worker.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from farm_health import WORKER_FAILING_TYPE
from local_pipeline.generator import GroundTruth, Traffic, worker_alerts
from local_pipeline.spec import RuleSpec
from notification_processor.deadline import read_body
from notification_processor.errors import InvalidInput
from notification_processor.roles import JOB, TABLE_ROLES
from notification_processor.timestamps import TICKS_PER_SECOND, timestamp_ticks
from status_events.changes import DETAIL_FIELDS, status_change_type

_KINDS = {status_change_type(role): kind for kind, role in TABLE_ROLES.items()}
_KEY_FIELDS = {
    kind: [DETAIL_FIELDS[attribute.source_field] for attribute in role.key] for kind, role in TABLE_ROLES.items()
}


@dataclass(frozen=True)
class PublishedEvent:
    detail_type: str
    detail: dict

    @property
    def kind(self) -> str | None:
        return _KINDS.get(self.detail_type)

    @property
    def key(self) -> tuple:
        return tuple(self.detail.get(name) for name in _KEY_FIELDS[self.kind]) if self.kind else ()

    @property
    def ticks(self) -> int:
        return timestamp_ticks(self.detail["timestamp"])

    @property
    def label(self) -> str:
        return f"{self.kind} {'/'.join(map(str, self.key))}"


def published_events(bodies: list[str]) -> list[PublishedEvent]:
    """The events EventBridge delivered (each body one event, as a rule's SQS target receives it)."""
    return [PublishedEvent(event["detail-type"], event["detail"]) for event in map(json.loads, bodies)]


def sent_statuses(traffic: Traffic) -> dict[tuple, dict[int, str]]:
    """Per (kind, key), the status of each notification sent, by its Timestamp in ticks."""
    sent: dict[tuple, dict[int, str]] = defaultdict(dict)
    for message in traffic.messages:
        if message.invalid:
            continue
        try:
            body = read_body(message.body)
        except InvalidInput:
            continue
        status = body.fields[body.role.details_field].get(body.role.status_field)
        sent[body.role.kind, body.key][body.ticks] = status
    return sent


def event_problems(events: list[PublishedEvent], traffic: Traffic, stored: GroundTruth) -> list[str]:
    """What breaks the rules in the module's docstring, one line per problem."""
    problems = [
        f"an event of an unexpected type: {event.detail_type}"
        for event in events
        if event.kind is None and event.detail_type != WORKER_FAILING_TYPE
    ]
    events = [event for event in events if event.kind is not None]
    problems += [f"{event.label}: an event without a Timestamp" for event in events if "timestamp" not in event.detail]
    events = [event for event in events if "timestamp" in event.detail]
    by_key: dict[tuple, list[PublishedEvent]] = defaultdict(list)
    for event in events:
        by_key[event.kind, event.key].append(event)
    sent = sent_statuses(traffic)
    final = {(kind, key): state.status for kind, states in stored.by_kind().items() for key, state in states.items()}
    for kind_key in sorted(by_key.keys() | {k for k, status in final.items() if status}, key=str):
        problems += _key_problems(kind_key, sorted(by_key.get(kind_key, []), key=lambda e: e.ticks), sent, final)
    duplicated = [i for i, n in Counter(e.detail.get("eventId") for e in events).items() if n > 1]
    problems += [f"event id {event_id} published more than once" for event_id in duplicated]
    return problems


def _key_problems(kind_key: tuple, events: list[PublishedEvent], sent: dict, final: dict) -> list[str]:
    label = f"{kind_key[0]} {'/'.join(map(str, kind_key[1]))}"
    if not events:
        return [f"{label}: stored as {final[kind_key]} but no event was published"]
    problems = []
    statuses = sent.get(kind_key, {})
    previous: PublishedEvent | None = None
    for event in events:
        where = f"{label} at {event.detail['timestamp']}"
        if event.ticks not in statuses:
            problems.append(f"{where}: an event for a notification never sent")
        elif statuses[event.ticks] != event.detail.get("status"):
            problems.append(f"{where}: event status {event.detail.get('status')}, notification {statuses[event.ticks]}")
        if previous is not None and event.ticks <= previous.ticks:
            problems.append(f"{where}: a second event for one Timestamp (a duplicate published)")
        expected_previous = previous.detail.get("status") if previous else None
        if event.detail.get("previousStatus") != expected_previous:
            problems.append(
                f"{where}: previous status {event.detail.get('previousStatus')}, but the event before said {expected_previous}"
            )
        if event.detail.get("previousStatus") == event.detail.get("status"):
            problems.append(f"{where}: an event without a status change")
        previous = event
    if events[-1].detail.get("status") != final.get(kind_key):
        problems.append(f"{label}: last event says {events[-1].detail.get('status')}, the table holds {final.get(kind_key)}")
    return problems


def alerted_statuses(rules: list[RuleSpec]) -> set[str]:
    """The job statuses the template's alert rules send on."""
    return {status for rule in rules for status in rule.event_pattern.get("detail", {}).get("status", [])}


def alert_problems(alerts: list[str], events: list[PublishedEvent], rules: list[RuleSpec]) -> list[str]:
    """One alert line per job event whose status a rule names, naming that job, and one per failing-worker
    event if a rule sends those, naming that worker."""
    statuses = alerted_statuses(rules)
    job_type = status_change_type(TABLE_ROLES[JOB])
    expected = [e for e in events if e.detail_type == job_type and e.detail.get("status") in statuses]
    workers = [e for e in events if e.detail_type == WORKER_FAILING_TYPE and _worker_rule(rules)]
    problems = []
    if len(alerts) != len(expected) + len(workers):
        problems.append(
            f"{len(alerts)} alerts for {len(expected)} job events with status {' or '.join(sorted(statuses))}"
            + (f" and {len(workers)} failing-worker events" if workers else "")
        )
    unnamed = [e.detail["jobId"] for e in expected if not any(e.detail["jobId"] in line for line in alerts)]
    problems += [f"no alert names job {job}" for job in unnamed]
    problems += [
        f"no alert names failing worker {e.detail['workerName']}"
        for e in workers
        if not any(f"worker {e.detail['workerName']} " in line for line in alerts)
    ]
    return problems


def _worker_rule(rules: list[RuleSpec]) -> bool:
    return any(WORKER_FAILING_TYPE in rule.event_pattern.get("detail-type", []) for rule in rules)


def worker_event_problems(events: list[PublishedEvent], traffic: Traffic, jobs: int, minutes: int) -> list[str]:
    """The failing-worker events against the traffic's failures (see the module's docstring)."""
    found = [event.detail for event in events if event.detail_type == WORKER_FAILING_TYPE]
    expected = worker_alerts(traffic.failures, jobs, minutes)
    counted = Counter(detail.get("workerName") for detail in found)
    problems = [
        f"worker {worker}: {counted[worker]} failing-worker events, the ground truth says {expected[worker]}"
        for worker in sorted(set(expected) | set(counted), key=str)
        if counted[worker] != expected[worker]
    ]
    repeated = [event_id for event_id, n in Counter(d.get("eventId") for d in found).items() if n > 1]
    problems += [f"failing-worker event {event_id} published more than once" for event_id in repeated]
    failed_jobs: dict[str, set[str]] = defaultdict(set)
    for failure in traffic.failures:
        failed_jobs[failure.worker].add(failure.job_id)
    for detail in found:
        worker, named = detail.get("workerName"), {job.get("jobId") for job in detail.get("jobs", [])}
        if len(named) < jobs or not named <= failed_jobs[worker]:
            problems.append(f"worker {worker}: its event names jobs {sorted(named)}, not {jobs} or more it failed tasks of")
        span = timestamp_ticks(detail["lastFailure"]) - timestamp_ticks(detail["firstFailure"])
        if not 0 <= span <= minutes * 60 * TICKS_PER_SECOND or detail.get("failedTasks", 0) < len(named):
            problems.append(f"worker {worker}: its event's failures do not fit one window of {minutes} minutes")
    return problems
