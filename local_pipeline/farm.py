"""A simulated render farm: the notifications Deadline's Remote Connection Server would send.

Each job renders its frame range as tasks on a few workers. Task attempts end
completed, failed (and retried), requeued (a worker stopped responding) or
suspended; each job ends completed, failed, suspended (some are resumed and then
complete) or deleted while active. Everything derives from one seeded
`random.Random`, so a seed always gives the same farm.

With a failing worker, one more worker joins every job for FAILING_MINUTES from
FAILING_FROM, and every task it picks up then fails within a minute or so: a broken
node failing tasks across the jobs that are rendering. The farm's `failures` list every
failed task's worker, job and Timestamp, for the failing-worker ground truth.

Every notification gets a distinct Timestamp (100 ns ticks, strictly increasing
across the whole farm), so the newest notification per job and per task, the
ground truth, is never ambiguous.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from deadline_sqs.notifications import (
    JOB_EVENTS,
    STARTED_TASK,
    STOPPED_TASK,
    TASK_STOPS,
    TICKS_PER_SECOND,
    job_notification,
    render_time,
    studio_datetime,
    task_notification,
    timestamp_from_ticks,
)
from status_events.changes import DEFAULT_OPT_OUT_FIELD

EPOCH = datetime(2024, 3, 4, 14, 0, tzinfo=UTC)
SECOND = TICKS_PER_SECOND

JOB_OUTCOMES = {"completed": 55, "resumed": 10, "suspended": 10, "failed": 15, "deleted": 10}
FAILED_ATTEMPT_RATE = 0.05
REQUEUED_ATTEMPT_RATE = 0.03
FAILURES_BEFORE_JOB_FAILS = 3
# The failing worker's bad spell: from this long after EPOCH (when most jobs of a farm of 20 render), this long.
FAILING_FROM = 45 * 60 * TICKS_PER_SECOND
FAILING_MINUTES = 12

PLUGINS = ["MayaBatch", "Arnold", "Houdini", "Nuke", "Blender", "3dsmax", "VRay"]
USERS = ["amelie", "bjorn", "chen", "dara", "emeka", "farah", "gus"]
# About one job in this many opts out of its artist's notifications (notify_opt_out_field "off", the default field).
OPT_OUT_EVERY = 7
OPT_OUT_VALUE = "off"
DEPARTMENTS = ["", "lighting", "fx", "comp", "lookdev"]
LAYERS = ["beauty", "fx_smoke", "char_main", "env_bg", "comp_final", "crowd"]


@dataclass(frozen=True)
class KeyState:
    """The newest notification of one job or task: what its stored item must show."""

    timestamp: str
    status: str
    notification: str


@dataclass(frozen=True)
class Notification:
    key: tuple  # ("job", job_id) or ("task", job_id, task_id)
    body: dict


@dataclass(frozen=True)
class TaskFailure:
    worker: str
    job_id: str
    tick: int  # its Timestamp, in ticks since EPOCH


@dataclass(frozen=True)
class FailingSpell:
    """A worker that fails every task it starts from `start` until `end` (ticks), and renders nothing else."""

    worker: dict
    start: int
    end: int


@dataclass
class Farm:
    notifications: list[Notification]  # in the order the events happened
    jobs: dict[str, KeyState]
    tasks: dict[tuple[str, int], KeyState]
    last_tick: int  # the newest Timestamp, in ticks since EPOCH
    failures: list[TaskFailure]  # every failed task, in time order
    failing_worker: str | None = None


@dataclass
class _Event:
    tick: int
    key: tuple
    status: str
    name: str
    build: object  # timestamp -> body dict


class _Job:
    """One job's simulation: a tiny scheduler over its worker slots."""

    def __init__(self, rng: random.Random, index: int, workers: list[dict], mean_tasks: int, spell: FailingSpell | None):
        self.rng = rng
        self.events: list[_Event] = []
        self.submit = rng.randrange(0, 1800 * SECOND) + index * 90 * SECOND
        submit_at = _moment(self.submit)
        self.job_id = f"{int(submit_at.timestamp()):08x}{rng.getrandbits(64):016x}"
        self.task_count = rng.randint(max(1, mean_tasks // 2), max(1, mean_tasks * 3 // 2))
        chunk = rng.choice([1, 1, 2, 5])
        first = rng.choice([1, 1001])
        self.frames = [(first + i * chunk, first + (i + 1) * chunk - 1) for i in range(self.task_count)]
        self.details = {
            "JobID": self.job_id,
            "JobName": f"sq{rng.randint(1, 40) * 10:03d}_sh{rng.randint(1, 90) * 10:04d}_{rng.choice(LAYERS)}",
            "UserName": rng.choice(USERS),
            "Department": rng.choice(DEPARTMENTS),
            "Group": rng.choice(["none", "gpu", "cpu_64gb"]),
            "Pool": rng.choice(["none", "shots", "priority"]),
            "FrameRange": f"{first}-{self.frames[-1][1]}",
            "NumberOfTasks": self.task_count,
            "JobPriority": rng.choice([50, 50, 60, 75, 90]),
            "JobSubmitDateTime": studio_datetime(submit_at),
            "PluginName": rng.choice(PLUGINS),
        }
        if int(self.job_id, 16) % OPT_OUT_EVERY == 0:  # from the id: the generator's random draws stay as they were
            self.details["ExtraInfo"] = {DEFAULT_OPT_OUT_FIELD: OPT_OUT_VALUE}
        self.outcome = rng.choices(list(JOB_OUTCOMES), weights=list(JOB_OUTCOMES.values()))[0]
        self.slots = rng.sample(workers, min(len(workers), rng.randint(3, 10)))
        self.spell = spell
        if spell is not None:
            self.slots.append(spell.worker)
        self.errors = {task: 0 for task in range(self.task_count)}
        self.failure_ticks: list[int] = []
        self.first_start: int | None = None
        expected = self.task_count / len(self.slots) * 400 * SECOND
        # Suspension or deletion of an active job happens part way through its render.
        self.interrupt_at = self.submit + int(expected * rng.uniform(0.2, 0.6)) + 60 * SECOND
        self.resume_at = self.interrupt_at + rng.randrange(300, 1800) * SECOND
        self.failing_task = rng.randrange(self.task_count) if self.outcome == "failed" else None
        self.failed_at: int | None = None

    def simulate(self) -> list[_Event]:
        ready = [(0, task) for task in range(self.task_count)]  # (when it may render, task)
        free = [(self.submit + self.rng.randrange(5, 60) * SECOND, n) for n in range(len(self.slots))]
        if self.spell is not None:  # the failing worker's slot (the last) is free only during its spell
            free[-1] = (max(free[-1][0], self.spell.start), free[-1][1])
        heapq.heapify(free)
        last_end = self.submit
        while free and ready:
            start, slot = heapq.heappop(free)
            if self.spell is not None and self.slots[slot] is self.spell.worker and start >= self.spell.end:
                continue
            if self.failed_at is not None and start >= self.failed_at:
                continue
            if self.outcome in ("suspended", "deleted") and start >= self.interrupt_at:
                continue
            if self.outcome == "resumed" and self.interrupt_at <= start < self.resume_at:
                heapq.heappush(free, (self.resume_at + self.rng.randrange(1, 30) * SECOND, slot))
                continue
            if ready[0][0] > start:  # the only tasks left are still on another worker
                heapq.heappush(free, (ready[0][0] + self.rng.randrange(1, 20) * SECOND, slot))
                continue
            _, task = heapq.heappop(ready)
            end, requeue = self._attempt(task, slot, start)
            if requeue:
                heapq.heappush(ready, (end, task))
            last_end = max(last_end, end)
            heapq.heappush(free, (end + self.rng.randrange(1, 20) * SECOND, slot))
        self._job_event(last_end, finished=not ready)
        return self.events

    def _attempt(self, task: int, slot: int, start: int) -> tuple[int, bool]:
        """Render one attempt; returns when the slot is free again and whether the task goes back in the queue."""
        rng = self.rng
        worker = self.slots[slot]
        self.first_start = start if self.first_start is None else min(self.first_start, start)
        values = {
            "JobID": self.job_id,
            "TaskID": task,
            "FrameRange": f"{self.frames[task][0]}-{self.frames[task][1]}",
            "WorkerName": worker["name"],
            "Source": worker["source"],
            "CPUs": worker["cpus"],
            "TaskStartDateTime": studio_datetime(_moment(start)),
            "RenderStartTime": studio_datetime(_moment(start + rng.randrange(1, 5) * SECOND)),
            "NumberOfErrors": self.errors[task],
        }
        self._task_event(start, values, None)
        failing = self.spell is not None and worker is self.spell.worker  # its slot renders only during the spell
        end = start + int(rng.uniform(20, 90) * SECOND if failing else rng.uniform(30, 900) * SECOND)
        if self.outcome in ("suspended", "resumed", "deleted") and start < self.interrupt_at < end:
            if self.outcome == "deleted":
                return self.interrupt_at, False  # the job is gone: no stop is reported
            stop_at = self.interrupt_at + int(rng.uniform(1, 5) * SECOND)
            self._task_event(stop_at, self._stopped_values(values, start, stop_at, done=False), "suspended")
            return stop_at, True
        if failing or task == self.failing_task or rng.random() < FAILED_ATTEMPT_RATE:
            stop = "failed"
        elif rng.random() < REQUEUED_ATTEMPT_RATE:
            stop = "requeued"
        else:
            stop = "completed"
        stopped = self._stopped_values(values, start, end, done=stop == "completed")
        if stop == "failed":
            self.errors[task] += 1
            stopped["NumberOfErrors"] = self.errors[task]
            self.failure_ticks.append(end)
            if task == self.failing_task and self.errors[task] >= FAILURES_BEFORE_JOB_FAILS:
                self.failed_at = end
                self._task_event(end, stopped, stop)
                return end, False
        self._task_event(end, stopped, stop)
        return end, stop != "completed"

    def _stopped_values(self, values: dict, start: int, end: int, done: bool) -> dict:
        rng = self.rng
        peak_ram = rng.randrange(2, 96) * 1024**3
        stopped = {
            **values,
            "Progress": "100 %" if done else f"{rng.randint(1, 99)} %",
            "RenderTime": render_time((end - start) / SECOND),
            "AverageRamUsageBytes": peak_ram * rng.randint(50, 95) // 100,
            "AverageRamUtilizationPercent": rng.randint(10, 80),
            "PeakRamUsageBytes": peak_ram,
            "PeakRamUtilizationPercent": rng.randint(40, 99),
            "AverageCpuUtilizationPercent": round(rng.uniform(40, 99), 2),
            "PeakCPUUtilizationPercent": 100,
            "UsedCPUClocks": rng.randrange(10**9, 10**12),
            "AvailableCPUClocks": 10**12,
        }
        if done:
            stopped["CompletedDateTime"] = studio_datetime(_moment(end))
            stopped["OutputFileSizeBytes"] = rng.randrange(10**6, 10**9)
        return stopped

    def _task_event(self, tick: int, values: dict, stop: str | None) -> None:
        status = "Rendering" if stop is None else TASK_STOPS[stop][0]
        name = STARTED_TASK if stop is None else STOPPED_TASK
        self.events.append(
            _Event(
                tick,
                ("task", self.job_id, values["TaskID"]),
                status,
                name,
                lambda timestamp: task_notification(values, timestamp, stop),
            )
        )

    def _job_event(self, last_end: int, finished: bool) -> None:
        if self.outcome == "failed" and self.failed_at is not None:
            event, tick = "failed", self.failed_at
        elif self.outcome in ("suspended", "deleted") and not (finished and last_end < self.interrupt_at):
            event, tick = self.outcome, self.interrupt_at
        else:  # rendered every task (a job can finish before it would have been interrupted)
            event, tick = "completed", last_end
        tick += int(self.rng.uniform(0.5, 30) * SECOND)
        details = {
            **self.details,
            "NumberOfErrors": sum(1 for failure in self.failure_ticks if failure <= tick),
        }
        if self.first_start is not None:
            details["JobStartedDateTime"] = studio_datetime(_moment(self.first_start))
        if event == "completed":
            details["JobCompletedDateTime"] = studio_datetime(_moment(tick))
        name, status, _ = JOB_EVENTS[event]
        self.events.append(
            _Event(tick, ("job", self.job_id), status, name, lambda timestamp: job_notification(details, event, timestamp))
        )


def _moment(tick: int) -> datetime:
    return EPOCH + timedelta(microseconds=tick // 10)


def _worker(rng: random.Random, number: int) -> dict:
    return {"name": f"render{number:03d}", "source": f"Worker-{rng.randrange(10**6, 10**7)}", "cpus": rng.choice([16, 32, 64])}


def simulate_farm(rng: random.Random, jobs: int, tasks_per_job: int, failing_worker: bool = False) -> Farm:
    workers = [_worker(rng, n) for n in range(max(4, jobs * 2))]
    spell = None
    if failing_worker:
        spell = FailingSpell(_worker(rng, len(workers)), FAILING_FROM, FAILING_FROM + FAILING_MINUTES * 60 * SECOND)
    events = [event for index in range(jobs) for event in _Job(rng, index, workers, tasks_per_job, spell).simulate()]
    events.sort(key=lambda event: event.tick)
    notifications, job_truth, task_truth, failures = [], {}, {}, []
    previous = -1
    for event in events:
        # Distinct ticks across the farm: no two notifications share a Timestamp.
        event.tick = max(event.tick, previous + 1)
        previous = event.tick
        timestamp = timestamp_from_ticks(EPOCH, event.tick)
        body = event.build(timestamp)
        notifications.append(Notification(event.key, body))
        state = KeyState(timestamp, event.status, event.name)
        if event.key[0] == "job":
            job_truth[event.key[1]] = state
        else:
            task_truth[event.key[1:]] = state
            if event.status == TASK_STOPS["failed"][0]:
                failures.append(TaskFailure(body["TaskDetails"]["WorkerName"], event.key[1], event.tick))
    return Farm(notifications, job_truth, task_truth, previous, failures, spell.worker["name"] if spell else None)
