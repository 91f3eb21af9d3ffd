"""The Deadline 10 body rules: what a notification is about, its key and its Timestamp.

Deadline's Remote Connection Server sends a JSON object with JobDetails (job
notifications) or TaskDetails (task notifications), NotificationInfo.Name and a
Timestamp with 100 ns precision. Numbers are parsed as Decimal, so no value ever
passes through a float.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from .attributes import number_value, unicode_text
from .errors import InvalidInput
from .roles import JOB, TABLE_ROLES, TASK, TableRole
from .timestamps import TimestampError, timestamp_ticks

MAX_PARTITION_KEY_BYTES = 2048


@dataclass(frozen=True)
class DeadlineBody:
    role: TableRole  # the table the notification belongs in
    key: tuple  # the values of role.key, in order: (job_id,) or (job_id, task_id)
    name: str  # NotificationInfo.Name
    timestamp: str  # Timestamp, as sent
    ticks: int  # Timestamp, in 100 ns ticks since the epoch
    fields: dict  # the whole body


def read_body(text: str) -> DeadlineBody:
    body = _parse(text)
    info = body.get("NotificationInfo")
    name = info.get("Name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput("NotificationInfo.Name is missing or not a non-empty string")
    role = _role(name, body)
    details = body[role.details_field]
    if not isinstance(details, dict):
        raise InvalidInput(f"{role.details_field} is not an object")
    key = _key(role, details)
    timestamp, ticks = _timestamp(body)
    return DeadlineBody(role, key, name, timestamp, ticks, body)


def _reject_constant(constant: str):
    raise InvalidInput(f"the body contains {constant}, which is not a number DynamoDB stores")


def _object(pairs: list[tuple]) -> dict:
    """A JSON object, refused if it repeats a key: which value counts would be a guess."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidInput("an object in the body repeats a key")
    return obj


def _parse(text: str) -> dict:
    try:
        body = json.loads(
            text, parse_float=Decimal, parse_int=Decimal, parse_constant=_reject_constant, object_pairs_hook=_object
        )
    except json.JSONDecodeError as error:
        raise InvalidInput(f"the body is not JSON ({error})") from None
    except RecursionError:
        raise InvalidInput("the body nests too deeply to parse") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a JSON object")
    return body


def _role(name: str, body: dict) -> TableRole:
    """Job or task: Names starting with "Job" prefer JobDetails, all others TaskDetails.

    A notification whose preferred details are absent is stored by the other details it
    carries, so a Name this code does not know is still stored, never rejected.
    """
    preferred, other = (JOB, TASK) if name.startswith("Job") else (TASK, JOB)
    for kind in (preferred, other):
        if TABLE_ROLES[kind].details_field in body:
            return TABLE_ROLES[kind]
    names = " nor ".join(role.details_field for role in TABLE_ROLES.values())
    raise InvalidInput(f"the body has neither {names}")


def _key(role: TableRole, details: dict) -> tuple:
    return tuple(_key_value(attribute.type, f"{role.details_field}.{attribute.source_field}", details.get(attribute.source_field))
                 for attribute in role.key)


def _key_value(kind: str, where: str, value):
    if kind == "S":
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where} is missing or not a non-empty string")
        if len(unicode_text(value, where).encode()) > MAX_PARTITION_KEY_BYTES:
            raise InvalidInput(f"{where} is longer than DynamoDB's {MAX_PARTITION_KEY_BYTES}-byte key limit")
        return value
    if not isinstance(value, Decimal) or not value.is_finite() or value != value.to_integral_value():
        raise InvalidInput(f"{where} is missing or not an integer")
    number_value(value, where)  # bounds it before int() expands the exponent
    return int(value)


def _timestamp(body: dict) -> tuple[str, int]:
    """Timestamp as sent, and in ticks."""
    timestamp = body.get("Timestamp")
    if not isinstance(timestamp, str):
        raise InvalidInput("Timestamp is missing or not a string")
    try:
        return timestamp, timestamp_ticks(timestamp)
    except TimestampError as error:
        raise InvalidInput(f"Timestamp {timestamp[:40]!r} is {error}") from None
