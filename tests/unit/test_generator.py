"""The traffic generator: deterministic, shaped like the documented examples, with a correct ground truth."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from deadline_sqs.notifications import JOB_EVENTS, TASK_STOPS
from deadline_sqs.sending import MessageFileError
from local_pipeline.generator import (
    MALFORMED_KINDS,
    GroundTruth,
    Message,
    TrafficSettings,
    generate,
    read_messages,
    write_messages,
    write_truth,
)
from notification_processor.attributes import MAX_ITEM_BYTES

SMALL = TrafficSettings(seed=11, jobs=6, tasks_per_job=12)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z")


def _shape(value):
    """Keys and JSON types, recursively: what 'shaped exactly like the example' means."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _valid_bodies(traffic):
    return [json.loads(message.body) for message in traffic.messages if not message.invalid]


def _key(body: dict) -> tuple:
    if "JobDetails" in body:
        return ("job", body["JobDetails"]["JobID"])
    return ("task", body["TaskDetails"]["JobID"], body["TaskDetails"]["TaskID"])


def test_same_seed_same_traffic_and_another_seed_other_traffic():
    settings = TrafficSettings(seed=5, jobs=4, tasks_per_job=10, duplicate_rate=0.3, reorder_window=15, malformed_per_kind=1)
    first, again = generate(settings), generate(settings)
    assert first.messages == again.messages
    assert first.truth == again.truth
    other = generate(TrafficSettings(**{**vars(settings), "seed": 6}))
    assert other.messages != first.messages


def test_bodies_have_exactly_the_documented_examples_shape(documented_job_message, documented_task_message):
    bodies = _valid_bodies(generate(SMALL))
    task_bodies = [body for body in bodies if "TaskDetails" in body]
    job_bodies = [body for body in bodies if "JobDetails" in body]
    assert task_bodies and job_bodies
    expected_task = _shape(documented_task_message)
    expected_job = _shape(documented_job_message)
    for body in task_bodies:
        stopped = body["NotificationInfo"]["Name"] == "StoppedTaskNotification"
        # A Started notification has no StopReason; otherwise every key and type is the example's.
        info = {"Name": "str", "StopReason": "str"} if stopped else {"Name": "str"}
        assert _shape(body) == {**expected_task, "NotificationInfo": info}
    for body in job_bodies:
        assert _shape(body) == expected_job


def test_every_documented_event_kind_occurs():
    bodies = _valid_bodies(generate(TrafficSettings(seed=3, jobs=20, tasks_per_job=30)))
    job_names = {body["NotificationInfo"]["Name"] for body in bodies if "JobDetails" in body}
    assert job_names == {name for name, _, _ in JOB_EVENTS.values()}
    stops = {
        body["TaskDetails"]["Status"]
        for body in bodies
        if body["NotificationInfo"]["Name"] == "StoppedTaskNotification"
    }
    assert stops == {status for status, _ in TASK_STOPS.values()}
    started = [body for body in bodies if body["NotificationInfo"]["Name"] == "StartedTaskNotification"]
    assert started and all(body["TaskDetails"]["Status"] == "Rendering" for body in started)


def test_stop_reasons_name_the_task_like_the_documented_example():
    bodies = _valid_bodies(generate(SMALL))
    completed = next(
        body for body in bodies if body["NotificationInfo"].get("StopReason", "").endswith("set to Completed.")
    )
    details = completed["TaskDetails"]
    assert completed["NotificationInfo"]["StopReason"] == (
        f"The Task '{details['JobID']}_{details['TaskID']}' was set to Completed."
    )
    assert details["Name"] == f"{details['TaskID']}_{details['FrameRange']}"


def test_timestamps_have_seven_digits_and_are_distinct_and_increasing_in_event_order():
    traffic = generate(SMALL)  # no reordering: send order is event order
    timestamps = [body["Timestamp"] for body in _valid_bodies(traffic)]
    assert all(TIMESTAMP.fullmatch(timestamp) for timestamp in timestamps)
    assert timestamps == sorted(timestamps)
    assert len(set(timestamps)) == len(timestamps)


def test_truth_is_the_newest_notification_of_every_key():
    traffic = generate(TrafficSettings(seed=2, jobs=5, tasks_per_job=15, duplicate_rate=0.4, reorder_window=40))
    newest: dict[tuple, dict] = {}
    for body in _valid_bodies(traffic):
        key = _key(body)
        if key not in newest or body["Timestamp"] > newest[key]["Timestamp"]:
            newest[key] = body
    jobs = {key[1]: body for key, body in newest.items() if key[0] == "job"}
    tasks = {key[1:]: body for key, body in newest.items() if key[0] == "task"}
    assert set(traffic.truth.jobs) == set(jobs)
    assert set(traffic.truth.tasks) == set(tasks)
    for job_id, state in traffic.truth.jobs.items():
        body = jobs[job_id]
        assert (state.timestamp, state.status, state.notification) == (
            body["Timestamp"], body["JobDetails"]["JobStatus"], body["NotificationInfo"]["Name"]
        )
    for key, state in traffic.truth.tasks.items():
        body = tasks[key]
        assert (state.timestamp, state.status, state.notification) == (
            body["Timestamp"], body["TaskDetails"]["Status"], body["NotificationInfo"]["Name"]
        )


def test_duplicates_and_reordering():
    plain = generate(TrafficSettings(seed=4, jobs=8, tasks_per_job=20))
    shaken = generate(TrafficSettings(seed=4, jobs=8, tasks_per_job=20, duplicate_rate=0.3, reorder_window=50))
    copies = Counter(message.body for message in shaken.messages)
    assert set(copies) == {message.body for message in plain.messages}
    assert sum(copies.values()) - len(copies) == shaken.duplicates
    assert 0.2 < shaken.duplicates / shaken.notifications < 0.4
    in_order = [json.loads(body)["Timestamp"] for body in dict.fromkeys(m.body for m in shaken.messages)]
    assert in_order != sorted(in_order)


def test_malformed_messages_of_every_kind_break_what_they_claim():
    traffic = generate(TrafficSettings(seed=8, jobs=3, tasks_per_job=5, malformed_per_kind=2))
    bad = Counter(message.invalid for message in traffic.malformed)
    assert bad == {kind: 2 for kind in MALFORMED_KINDS}
    for message in traffic.malformed:
        if message.invalid == "not_json":
            with pytest.raises(ValueError):
                json.loads(message.body)
            continue
        body = json.loads(message.body)
        if message.invalid == "not_object":
            assert not isinstance(body, dict)
            continue
        details = body.get("JobDetails", body.get("TaskDetails"))
        checks = {
            "no_name": lambda: "Name" not in body["NotificationInfo"],
            "no_details": lambda: details is None,
            "missing_job_id": lambda: "JobID" not in details,
            "non_string_job_id": lambda: not isinstance(details["JobID"], str),
            "non_integer_task_id": lambda: details["TaskID"] != int(details["TaskID"]),
            "missing_timestamp": lambda: "Timestamp" not in body,
            "bad_timestamp": lambda: body["Timestamp"].startswith("2024-02-30"),
            "oversized": lambda: len(message.body) > MAX_ITEM_BYTES,
        }
        assert checks[message.invalid](), message.invalid


def test_messages_and_truth_files_round_trip(tmp_path):
    traffic = generate(TrafficSettings(seed=9, jobs=2, tasks_per_job=4, malformed_per_kind=1))
    write_messages(tmp_path / "traffic.jsonl", traffic.messages)
    write_truth(tmp_path / "truth.json", traffic.truth)
    assert read_messages(tmp_path / "traffic.jsonl") == traffic.messages
    assert GroundTruth.from_json(json.loads((tmp_path / "truth.json").read_text())) == traffic.truth


def test_a_file_that_is_not_generated_traffic_is_refused(tmp_path):
    path = tmp_path / "other.jsonl"
    write_messages(path, [Message("{}")])
    path.write_text(path.read_text() + "not json\n")
    with pytest.raises(MessageFileError, match=":2:"):
        read_messages(path)


@pytest.mark.parametrize("settings", [{"jobs": 0}, {"duplicate_rate": 1.5}, {"reorder_window": -1}])
def test_impossible_settings_are_refused(settings):
    with pytest.raises(ValueError):
        TrafficSettings(**settings)


def test_a_body_with_a_unicode_line_separator_is_one_message(tmp_path):
    path = tmp_path / "raw.jsonl"
    path.write_text('{"body": "frame\u2028range"}\n{"body": "two"}\n')  # JSON allows U+2028 unescaped
    assert [message.body for message in read_messages(path)] == ["frame\u2028range", "two"]


FAILING = TrafficSettings(seed=3, jobs=20, tasks_per_job=50, failing_worker=True)


def test_the_failing_worker_fails_tasks_of_several_jobs_within_one_window_and_nothing_else():
    from local_pipeline.farm import FAILING_MINUTES, SECOND

    traffic = generate(FAILING)
    assert traffic == generate(FAILING)  # deterministic by seed
    own = [failure for failure in traffic.failures if failure.worker == traffic.failing_worker]
    assert len({failure.job_id for failure in own}) >= 3
    assert own[-1].tick - own[0].tick < 30 * 60 * SECOND  # closer than a window: one event, whatever the order
    assert own[-1].tick - own[0].tick <= (FAILING_MINUTES + 2) * 60 * SECOND
    stops = [json.loads(m.body) for m in traffic.messages if not m.invalid and traffic.failing_worker in m.body]
    statuses = Counter(body["TaskDetails"]["Status"] for body in stops)
    assert set(statuses) == {"Rendering", "Failed"}  # it starts tasks and fails them: it completes none


def test_the_ground_truth_counts_one_event_per_worker_per_window():
    from local_pipeline.farm import SECOND, TaskFailure
    from local_pipeline.generator import worker_alerts

    minute = 60 * SECOND
    spell = [TaskFailure("render001", job, n * minute) for n, job in enumerate("abcab")]
    later = [TaskFailure("render001", job, (40 + n) * minute) for n, job in enumerate("abc")]
    edge = [TaskFailure("render002", "a", 0), TaskFailure("render002", "b", 0), TaskFailure("render002", "c", 30 * minute)]
    past = [TaskFailure("render003", "a", 0), TaskFailure("render003", "b", 0), TaskFailure("render003", "c", 30 * minute + 1)]
    alerts = worker_alerts([*later, *spell, *edge, *past], jobs=3, minutes=30)
    assert alerts == Counter({"render001": 2, "render002": 1})  # the second spell is a full window after the first
    assert worker_alerts(generate(FAILING).failures, 3, 30) == Counter({generate(FAILING).failing_worker: 1})
