"""What the tables hold, compared with the generator's ground truth."""

from __future__ import annotations

from collections import Counter

from local_pipeline.farm import KeyState
from local_pipeline.generator import GroundTruth

# Reserved words (timestamp, Status) need placeholders in a projection.
_NAMES = {"#ts": "timestamp", "#tt": "task_type", "#jd": "job_details", "#td": "task_details", "#st": "Status"}


def _scan(dynamodb, table: str, projection: str) -> list[dict]:
    items = []
    names = {placeholder: name for placeholder, name in _NAMES.items() if placeholder in projection}
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=projection, ExpressionAttributeNames=names, ConsistentRead=True
    ):
        items.extend(page["Items"])
    return items


def _text(item: dict, *path: str) -> str:
    value = {"M": item}
    for name in path:
        value = value.get("M", {}).get(name, {})
    return value.get("S", "")


def stored_state(dynamodb, job_table: str, task_table: str) -> GroundTruth:
    """Each stored item's Timestamp, status and notification name, keyed like the ground truth."""
    jobs = {
        item["job_id"]["S"]: KeyState(_text(item, "timestamp"), _text(item, "job_details", "JobStatus"), _text(item, "task_type"))
        for item in _scan(dynamodb, job_table, "job_id, #ts, #tt, #jd.JobStatus")
    }
    tasks = {
        (item["job_id"]["S"], int(item["task_id"]["N"])): KeyState(
            _text(item, "timestamp"), _text(item, "task_details", "Status"), _text(item, "task_type")
        )
        for item in _scan(dynamodb, task_table, "job_id, task_id, #ts, #tt, #td.#st")
    }
    return GroundTruth(jobs, tasks)


def mismatches(expected: GroundTruth, stored: GroundTruth) -> list[str]:
    """Every key whose stored item is missing, unexpected or not the newest notification."""
    problems = []
    for kind, want, have in (("job", expected.jobs, stored.jobs), ("task", expected.tasks, stored.tasks)):
        for key in sorted(want.keys() | have.keys(), key=str):
            label = f"{kind} {'/'.join(map(str, key)) if isinstance(key, tuple) else key}"
            if key not in have:
                problems.append(f"{label}: not stored (expected {_describe(want[key])})")
            elif key not in want:
                problems.append(f"{label}: stored but never sent ({_describe(have[key])})")
            elif want[key] != have[key]:
                problems.append(f"{label}: stored {_describe(have[key])}, expected {_describe(want[key])}")
    return problems


def _describe(state: KeyState) -> str:
    return f"{state.status} ({state.notification} at {state.timestamp})"


def status_counts(states: dict) -> Counter:
    return Counter(state.status for state in states.values())
