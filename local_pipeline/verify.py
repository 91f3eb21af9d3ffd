"""What the tables hold, compared with the generator's ground truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from local_pipeline.farm import KeyState
from local_pipeline.generator import GroundTruth
from notification_processor.attributes import KEY_MAPPING
from notification_processor.roles import TABLE_ROLES

# Placeholders for every name in a projection: some (timestamp, Status) are reserved words.
_STORED = ("timestamp", "task_type")


def _scan(dynamodb, table: str, paths: list[tuple[str, ...]]) -> list[dict]:
    names = {name: f"#n{n}" for n, name in enumerate(sorted({name for path in paths for name in path}))}
    projection = ", ".join(".".join(names[name] for name in path) for path in paths)
    items = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table,
        ProjectionExpression=projection,
        ExpressionAttributeNames={placeholder: name for name, placeholder in names.items()},
        ConsistentRead=True,
    ):
        items.extend(page["Items"])
    return items


def _text(item: dict, *path: str) -> str:
    value = {"M": item}
    for name in path:
        value = value.get("M", {}).get(name, {})
    return value.get("S", "")


def stored_state(dynamodb, tables: Mapping[str, str]) -> GroundTruth:
    """Each stored item's Timestamp, status and notification name, keyed like the ground truth."""
    states = {}
    for kind, table in tables.items():
        role = TABLE_ROLES[kind]
        status = (KEY_MAPPING[role.details_field], role.status_field)
        paths = [(name,) for name in role.key_names + _STORED] + [status]
        states[kind] = {
            tuple(item[a.name][a.type] if a.type == "S" else int(item[a.name][a.type]) for a in role.key): KeyState(
                _text(item, "timestamp"), _text(item, *status), _text(item, "task_type")
            )
            for item in _scan(dynamodb, table, paths)
        }
    return GroundTruth.from_kinds(states)


def mismatches(expected: GroundTruth, stored: GroundTruth) -> list[str]:
    """Every key whose stored item is missing, unexpected or not the newest notification."""
    problems = []
    have_by_kind = stored.by_kind()
    for kind, want in expected.by_kind().items():
        have = have_by_kind[kind]
        for key in sorted(want.keys() | have.keys(), key=str):
            label = f"{kind} {'/'.join(map(str, key))}"
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
