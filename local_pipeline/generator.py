"""Traffic as SQS would deliver it: a farm's notifications with duplicates, reordering and bad records.

`generate(settings)` is deterministic from `settings.seed`. Its `Traffic` holds the
message bodies in send order (each bad one marked with why it is bad) and the
ground truth: the newest notification per job and per task, which is what the
tables must hold once everything is processed. With `failing_worker`, the farm has a
worker failing tasks across its jobs (farm.py); `worker_alerts` is the failing-worker
ground truth for any farm: how many events each worker's failures make.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from deadline_sqs.notifications import timestamp_from_ticks
from deadline_sqs.sending import read_message_lines
from local_pipeline.farm import EPOCH, SECOND, KeyState, TaskFailure, simulate_farm
from notification_processor.attributes import MAX_ITEM_BYTES
from notification_processor.roles import JOB, TASK

# An "oversized" body is comfortably above DynamoDB's item limit (and below SQS's 1 MiB).
OVERSIZED_PADDING = MAX_ITEM_BYTES + 10 * 1024

# Every kind of bad input the processor must reject, with the reason shown to the operator.
MALFORMED_KINDS = {
    "not_json": "body is not JSON (truncated)",
    "not_object": "body is JSON but not an object",
    "no_name": "NotificationInfo has no Name",
    "no_details": "neither JobDetails nor TaskDetails",
    "missing_job_id": "TaskDetails has no JobID",
    "non_string_job_id": "JobDetails.JobID is a number",
    "non_integer_task_id": "TaskDetails.TaskID is not an integer",
    "missing_timestamp": "no Timestamp",
    "bad_timestamp": "Timestamp does not parse",
    "oversized": "item over DynamoDB's 400 KB",
}


@dataclass(frozen=True)
class TrafficSettings:
    seed: int = 1
    jobs: int = 20
    tasks_per_job: int = 50
    duplicate_rate: float = 0.0  # chance that a notification is delivered a second time
    reorder_window: int = 0  # how many positions a message may move later than its place in time
    malformed_per_kind: int = 0
    failing_worker: bool = False  # a worker failing every task it starts for a while (farm.py)

    def __post_init__(self):
        if self.jobs < 1 or self.tasks_per_job < 1:
            raise ValueError("jobs and tasks per job must be at least 1")
        if not 0 <= self.duplicate_rate <= 1:
            raise ValueError("the duplicate rate is a fraction between 0 and 1")
        if self.reorder_window < 0 or self.malformed_per_kind < 0:
            raise ValueError("the reorder window and the malformed count cannot be negative")


@dataclass(frozen=True)
class Message:
    body: str
    invalid: str | None = None  # a MALFORMED_KINDS key for bad input


@dataclass
class GroundTruth:
    jobs: dict[str, KeyState] = field(default_factory=dict)
    tasks: dict[tuple[str, int], KeyState] = field(default_factory=dict)

    def by_kind(self) -> dict[str, dict[tuple, KeyState]]:
        """The states by table role and by key as the processor keys them ((job,) or (job, task))."""
        return {JOB: {(job,): state for job, state in self.jobs.items()}, TASK: dict(self.tasks)}

    @classmethod
    def from_kinds(cls, states: dict[str, dict[tuple, KeyState]]) -> GroundTruth:
        return cls({key[0]: state for key, state in states[JOB].items()}, dict(states[TASK]))

    def to_json(self) -> dict:
        return {
            "jobs": [{"job_id": job, **vars(state)} for job, state in sorted(self.jobs.items())],
            "tasks": [
                {"job_id": job, "task_id": task, **vars(state)} for (job, task), state in sorted(self.tasks.items())
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> GroundTruth:
        def state(row: dict) -> KeyState:
            return KeyState(row["timestamp"], row["status"], row["notification"])

        return cls(
            jobs={row["job_id"]: state(row) for row in data["jobs"]},
            tasks={(row["job_id"], int(row["task_id"])): state(row) for row in data["tasks"]},
        )


@dataclass
class Traffic:
    messages: list[Message]  # in send order
    truth: GroundTruth
    notifications: int  # distinct valid notifications
    duplicates: int
    failures: list[TaskFailure] = field(default_factory=list)  # every failed task, in time order
    failing_worker: str | None = None  # the one the settings asked for, if any

    @property
    def malformed(self) -> list[Message]:
        return [message for message in self.messages if message.invalid]


def generate(settings: TrafficSettings) -> Traffic:
    rng = random.Random(settings.seed)
    farm = simulate_farm(rng, settings.jobs, settings.tasks_per_job, settings.failing_worker)
    window = settings.reorder_window
    placed: list[tuple[float, Message]] = []
    duplicates = 0
    for position, notification in enumerate(farm.notifications):
        message = Message(json.dumps(notification.body))
        placed.append((position + rng.uniform(0, window), message))
        if rng.random() < settings.duplicate_rate:
            duplicates += 1
            # Without reordering the copy follows its original; with it, it lands anywhere in the window.
            placed.append((position + (rng.uniform(0, window) if window else 0.5), message))
    bad = _malformed(rng, farm, settings.malformed_per_kind)
    # In the first half of the traffic: a bad record is received maxReceiveCount times before
    # it is dead-lettered, and those retries then overlap the rest of the traffic.
    placed.extend((rng.uniform(0, len(farm.notifications) / 2), message) for message in bad)
    placed.sort(key=lambda item: item[0])
    truth = GroundTruth(dict(farm.jobs), dict(farm.tasks))
    return Traffic(
        [message for _, message in placed], truth, len(farm.notifications), duplicates, farm.failures, farm.failing_worker
    )


def worker_alerts(failures: list[TaskFailure], jobs: int, minutes: int) -> Counter:
    """How many failing-worker events each worker's failures make (docs/farm-health.md), read in time order.

    A window ends at each failure in turn and holds the failures at most `minutes` before it; it
    alerts when they span `jobs` distinct jobs and it ends at least `minutes` after the last alert's.
    The check reads failures in the order they arrive; where arrival order could change the count,
    the spells of failures are closer together than a window, so it cannot (farm.py's failing worker).
    """
    window = minutes * 60 * SECOND
    by_worker: dict[str, list[TaskFailure]] = {}
    for failure in sorted(failures, key=lambda f: f.tick):
        by_worker.setdefault(failure.worker, []).append(failure)
    alerts: Counter = Counter()
    for worker, own in by_worker.items():
        last_end = None
        for failure in own:
            end = failure.tick
            if last_end is not None and end < last_end + window:
                continue
            if len({f.job_id for f in own if end - window <= f.tick <= end}) >= jobs:
                alerts[worker] += 1
                last_end = end
    return alerts


def _malformed(rng: random.Random, farm, per_kind: int) -> list[Message]:
    """Bad records built from the farm's own notifications, so they look like the real thing.

    Where a bad record still names a job or task, its Timestamp is newer than anything
    the farm sent: a processor that wrongly stored it would break the ground truth.
    """
    if not per_kind:
        return []
    jobs = [n.body for n in farm.notifications if n.key[0] == "job"]
    tasks = [n.body for n in farm.notifications if n.key[0] == "task"]
    messages = []
    for copy in range(per_kind):
        for number, kind in enumerate(MALFORMED_KINDS):
            body = json.loads(json.dumps(rng.choice(tasks if kind in _TASK_KINDS else jobs)))
            body["Timestamp"] = timestamp_from_ticks(EPOCH, farm.last_tick + 1 + copy * len(MALFORMED_KINDS) + number)
            messages.append(Message(_break(kind, body), kind))
    return messages


_TASK_KINDS = {"no_name", "missing_job_id", "non_integer_task_id", "bad_timestamp", "oversized"}


def _break(kind: str, body: dict) -> str:
    if kind == "not_json":
        text = json.dumps(body)
        return text[: len(text) // 2]
    if kind == "not_object":
        return json.dumps([body])
    if kind == "no_name":
        del body["NotificationInfo"]["Name"]
    elif kind == "no_details":
        del body["JobDetails"]
    elif kind == "missing_job_id":
        del body["TaskDetails"]["JobID"]
    elif kind == "non_string_job_id":
        body["JobDetails"]["JobID"] = int(body["JobDetails"]["JobID"][:8], 16)
    elif kind == "non_integer_task_id":
        body["TaskDetails"]["TaskID"] += 0.5
    elif kind == "missing_timestamp":
        del body["Timestamp"]
    elif kind == "bad_timestamp":
        body["Timestamp"] = "2024-02-30T10:00:00.1234567Z"  # 30 February
    elif kind == "oversized":
        body["TaskDetails"]["Properties"]["Ex0"] = "x" * OVERSIZED_PADDING
    return json.dumps(body)


def write_messages(path: Path, messages: list[Message]) -> None:
    """JSON lines: {"body": <the exact string to send>} plus "invalid": <kind> for bad input."""
    with Path(path).open("w") as out:
        for message in messages:
            line = {"body": message.body}
            if message.invalid:
                line["invalid"] = message.invalid
            out.write(json.dumps(line) + "\n")


def read_messages(path: Path) -> list[Message]:
    return [Message(row["body"], row.get("invalid")) for row in read_message_lines(path)]


def write_truth(path: Path, truth: GroundTruth) -> None:
    Path(path).write_text(json.dumps(truth.to_json(), indent=1) + "\n")
