"""The counting rule, pure: one worker's failures -> whether a window qualifies for an alert.

A window is `minutes` long over the failures' own Timestamps, both ends included: two
failures exactly `minutes` apart are in one window. It qualifies when its failures span
at least `jobs` distinct jobs. A new failure (each distinct one is added once: `state`
sees to that) is checked with every window that holds it, earliest end first, so a
stale failure (one reported after newer ones) counts as much as a fresh one. An alert
is sent once per window: after one, the next needs a qualifying window ending at least
`minutes` after the last alert's window ended (a worker that keeps failing alerts again
once a full window has passed). A window ending earlier never alerts again.

The worker's state holds the failures of the last two windows before its newest one
(HELD_WINDOWS), at most MAX_HELD of them: all a window holding a new failure can need,
unless the failure is older than that, which is then counted in `failed` but can only
form a window with the failures still held.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from notification_processor.timestamps import TICKS_PER_SECOND

from .failures import Failure

HELD_WINDOWS = 2
MAX_HELD = 500  # failures held per worker: about 150 KB of the item's 400 KB


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
    failures: tuple[Failure, ...] = ()  # held, in time order
    failed: int = 0  # every distinct failure counted for this worker
    last_alert_end: int | None = None  # ticks: the end of the last alert's window
    pending: tuple[Alert, ...] = field(default=())  # decided, not yet known to be on the bus


def _order(failure: Failure) -> tuple:
    return failure.ticks, failure.notification_id


def add_failure(state: WorkerState, failure: Failure, rule: Rule) -> tuple[WorkerState, Alert | None]:
    """The state with `failure` counted, and the alert it completes, if any (then also pending)."""
    if any(held.notification_id == failure.notification_id for held in state.failures):
        return state, None  # state.py never adds one twice; a held one is no news either way
    window = rule.window_ticks
    every = sorted((*state.failures, failure), key=_order)
    newest = every[-1].ticks
    held = tuple(f for f in every if f.ticks >= newest - HELD_WINDOWS * window)[-MAX_HELD:]
    counted = replace(state, failures=held, failed=state.failed + 1)
    if failure not in held:
        return counted, None
    alert = _qualifying_window(counted, failure, rule)
    if alert is None:
        return counted, None
    return replace(counted, last_alert_end=alert.window_end, pending=(*counted.pending, alert)), alert


def _qualifying_window(state: WorkerState, failure: Failure, rule: Rule) -> Alert | None:
    """The earliest-ending allowed window that holds `failure` and spans enough jobs."""
    window = rule.window_ticks
    ends = sorted({f.ticks for f in state.failures if failure.ticks <= f.ticks <= failure.ticks + window})
    for end in ends:
        if state.last_alert_end is not None and end < state.last_alert_end + window:
            continue
        inside = tuple(f for f in state.failures if end - window <= f.ticks <= end)
        if len({f.job_id for f in inside}) >= rule.jobs:
            return Alert(state.worker, inside, failure.notification_id, end)
    return None


def without_pending(state: WorkerState, trigger: str) -> WorkerState:
    return replace(state, pending=tuple(alert for alert in state.pending if alert.trigger != trigger))
