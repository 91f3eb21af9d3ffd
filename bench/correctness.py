"""What the tables hold after a replay, against the generator's ground truth."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from bench.replay import ReplayOutcome
from local_pipeline.generator import GroundTruth


@dataclass(frozen=True)
class Correctness:
    keys: int  # jobs and tasks in the ground truth
    correct: int  # stored item is the newest notification
    stale: int  # stored item is an older notification
    missing: int  # nothing stored for the key
    wrong: int  # something newer than the newest good notification (a bad record stored), or an unknown key
    good_notifications: int  # distinct good notifications sent
    lost: int  # good notifications whose every copy ended in the dead-letter queue
    # Acknowledged good notifications whose key ends holding an older one or nothing: an older
    # notification overwrote them, so they are not stored any more than a dead-lettered one.
    overwritten: int
    good_messages_dead_lettered: int
    bad_messages: int
    bad_messages_dead_lettered: int

    def as_dict(self) -> dict:
        return asdict(self)


def stored_timestamps(client, table: str) -> dict[tuple, str]:
    """key -> stored `timestamp` for every item of a notification table."""
    found = {}
    pages = client.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression="job_id, task_id, #timestamp",
        ExpressionAttributeNames={"#timestamp": "timestamp"},
    )
    for page in pages:
        for item in page["Items"]:
            key = (item["job_id"]["S"],) + ((int(item["task_id"]["N"]),) if "task_id" in item else ())
            found[key] = item.get("timestamp", {}).get("S", "")
    return found


def check(client, tables: Mapping[str, str], truth: GroundTruth, outcome: ReplayOutcome) -> Correctness:
    # Job keys have one element and task keys two, so both tables' keys fit in one dict.
    expected = {key: state.timestamp for states in truth.by_kind().values() for key, state in states.items()}
    stored = {key: found for table in tables.values() for key, found in stored_timestamps(client, table).items()}
    tally = {"correct": 0, "stale": 0, "missing": 0, "wrong": len(stored.keys() - expected.keys())}
    for key, newest in expected.items():
        found = stored.get(key)
        if found is None:
            tally["missing"] += 1
        elif found == newest:
            tally["correct"] += 1
        elif found < newest:  # same fixed-width UTC format: text order is time order
            tally["stale"] += 1
        else:
            tally["wrong"] += 1
    good_acknowledged = {m.body for m in outcome.acknowledged if m.invalid is None}
    good_dead = [m for m in outcome.dead_lettered if m.invalid is None]
    bad_dead = [m for m in outcome.dead_lettered if m.invalid is not None]
    bad_total = len(bad_dead) + sum(1 for m in outcome.acknowledged if m.invalid is not None)
    good_bodies = good_acknowledged | {m.body for m in good_dead}
    return Correctness(
        keys=len(expected),
        **tally,
        good_notifications=len(good_bodies),
        lost=len({m.body for m in good_dead} - good_acknowledged),
        overwritten=sum(stored.get(key, "") < timestamp for key, timestamp in map(_key_and_timestamp, good_acknowledged)),
        good_messages_dead_lettered=len(good_dead),
        bad_messages=bad_total,
        bad_messages_dead_lettered=len(bad_dead),
    )


def _key_and_timestamp(body: str) -> tuple[tuple, str]:
    """A generated good notification's key (a task notification carries only TaskDetails) and Timestamp."""
    notification = json.loads(body)
    if "TaskDetails" in notification:
        details = notification["TaskDetails"]
        return (details["JobID"], int(details["TaskID"])), notification["Timestamp"]
    return (notification["JobDetails"]["JobID"],), notification["Timestamp"]
