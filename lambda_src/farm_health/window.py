"""The counting rule, pure: one worker's failures -> whether a window qualifies for an alert.

A window is `minutes` long over the failures' own Timestamps, both ends included: two
failures exactly `minutes` apart are in one window. It qualifies when its failures span
at least `jobs` distinct jobs. A new failure (each distinct one is added once: `state`
sees to that) is checked with every window that holds it, earliest end first, against
the worker's failures within a window of it on either side, so a stale failure (one
reported after newer ones) counts as much as a fresh one. An alert is sent once per
window: after one, the next needs a qualifying window ending at least `minutes` after
the last alert's window ended (a worker that keeps failing alerts again once a full
window has passed). A window ending earlier never alerts again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from notification_processor.timestamps import TICKS_PER_SECOND

from .failures import Failure

MAX_IN_ALERT = 200  # failures an alert keeps (the newest of its window): its pending copy stays well within an item


@dataclass(frozen=True)
class Rule:
    jobs: int  # distinct jobs a window needs (config failing_worker_jobs)
    minutes: int  # the window's length (config failing_worker_minutes)

    @property
    def window_ticks(self) -> int:
        return self.minutes * 60 * TICKS_PER_SECOND


@dataclass(frozen=True)
class Alert:
    """A qualifying window: its failures in time order, and the failure that completed it."""

    worker: str
    failures: tuple[Failure, ...]
    trigger: str  # the notification id of the failure whose arrival completed the window
    window_end: int  # ticks

    def to_json(self) -> dict:
        return {"trigger": self.trigger, "end": self.window_end, "failures": [f.to_json() for f in self.failures]}

    @classmethod
    def from_json(cls, worker: str, data: dict) -> Alert:
        failures = tuple(Failure.from_json(row) for row in data["failures"])
        return cls(worker, failures, data["trigger"], int(data["end"]))


@dataclass(frozen=True)
class WorkerState:
    worker: str
    failed: int = 0  # every distinct failure counted for this worker
    last_alert_end: int | None = None  # ticks: the end of the last alert's window
    pending: tuple[Alert, ...] = field(default=())  # decided, not yet known to be on the bus


def _order(failure: Failure) -> tuple:
    return failure.ticks, failure.notification_id


def nearby(failure: Failure, rule: Rule) -> tuple[int, int]:
    """The Timestamps (ticks, both included) of the failures every window holding `failure` can hold."""
    return failure.ticks - rule.window_ticks, failure.ticks + rule.window_ticks


def add_failure(state: WorkerState, others: Iterable[Failure], failure: Failure, rule: Rule) -> tuple[WorkerState, Alert | None]:
    """The state with `failure` counted, and the alert it completes, if any (then also pending).

    `others`: the worker's failures counted before, at least those `nearby` it (any more are ignored)."""
    low, high = nearby(failure, rule)
    near = {f for f in others if low <= f.ticks <= high}
    if any(f.notification_id == failure.notification_id for f in near):
        return state, None  # state.py never counts one twice; a counted one is no news either way
    counted = replace(state, failed=state.failed + 1)
    alert = _qualifying_window(counted, sorted({*near, failure}, key=_order), failure, rule)
    if alert is None:
        return counted, None
    return replace(counted, last_alert_end=alert.window_end, pending=(*counted.pending, alert)), alert


def _qualifying_window(state: WorkerState, near: list[Failure], failure: Failure, rule: Rule) -> Alert | None:
    """The earliest-ending allowed window that holds `failure` and spans enough jobs."""
    window = rule.window_ticks
    for end in sorted({f.ticks for f in near if f.ticks >= failure.ticks}):
        if state.last_alert_end is not None and end < state.last_alert_end + window:
            continue
        inside = tuple(f for f in near if end - window <= f.ticks <= end)
        if len({f.job_id for f in inside}) >= rule.jobs:
            return Alert(state.worker, inside[-MAX_IN_ALERT:], failure.notification_id, end)
    return None


def without_pending(state: WorkerState, trigger: str) -> WorkerState:
    return replace(state, pending=tuple(alert for alert in state.pending if alert.trigger != trigger))
