"""The demo's verdict: every difference between the tables and the ground truth, and a wrong DLQ, is a problem."""

from __future__ import annotations

from deadline_sqs.dead_letters import DeadLetter
from local_pipeline.demo import dead_letter_problems
from local_pipeline.farm import KeyState
from local_pipeline.generator import GroundTruth, TrafficSettings, generate
from local_pipeline.verify import mismatches

DONE = KeyState("2024-03-04T14:00:01.0000001Z", "Completed", "StoppedTaskNotification")
STARTED = KeyState("2024-03-04T14:00:00.0000001Z", "Rendering", "StartedTaskNotification")
EXPECTED = GroundTruth(jobs={"job-a": DONE}, tasks={("job-a", 0): DONE, ("job-a", 1): DONE})


def test_identical_tables_have_no_problems():
    assert mismatches(EXPECTED, GroundTruth(dict(EXPECTED.jobs), dict(EXPECTED.tasks))) == []


def test_an_older_state_a_missing_item_and_an_unexpected_item_are_each_reported():
    stored = GroundTruth(jobs={"job-a": DONE, "job-x": DONE}, tasks={("job-a", 0): STARTED})
    problems = mismatches(EXPECTED, stored)
    assert len(problems) == 3
    assert any(p.startswith("job job-x: stored but never sent") for p in problems)
    assert any(p.startswith("task job-a/0: stored Rendering") and "expected Completed" in p for p in problems)
    assert any(p.startswith("task job-a/1: not stored") for p in problems)


def _letter(body: str) -> DeadLetter:
    return DeadLetter("id", body, 5, None, "reason")


def test_the_dlq_must_hold_every_malformed_message_and_nothing_else():
    traffic = generate(TrafficSettings(seed=1, jobs=1, tasks_per_job=3, malformed_per_kind=1))
    bad = [message.body for message in traffic.malformed]
    assert dead_letter_problems(traffic, [_letter(body) for body in bad]) == []
    good = next(message.body for message in traffic.messages if not message.invalid)
    problems = dead_letter_problems(traffic, [_letter(body) for body in bad[1:]] + [_letter(good)])
    assert len(problems) == 2
    assert problems[0].startswith("dead-lettered but valid")
    assert problems[1] == f"malformed ({traffic.malformed[0].invalid}) but not in the DLQ"
