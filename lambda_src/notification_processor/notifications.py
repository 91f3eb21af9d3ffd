"""One SQS record -> the DynamoDB item it stores, or the reason it cannot be stored.

Stored schema (the documented example Lambda's, so existing readers keep working):
the body's fields under KEY_MAPPING's names, `job_id` (S) and for tasks `task_id`
(N), `sent_timestamp` (N, SQS's SentTimestamp) and `task_type` (NotificationInfo.Name);
plus the ordering attribute ORDER_ATTRIBUTE (B, 16 bytes: see `ordering_value`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from .attributes import MAX_ITEM_BYTES, UnstorableValue, item_size, map_value, number_value, unicode_text
from .timestamps import TimestampError, timestamp_ticks

JOB = "job"
TASK = "task"
# One byte of name: every item pays for it, and most notifications sit just under 1 KB,
# where a few bytes more cost a second write unit.
ORDER_ATTRIBUTE = "v"
# Unsigned big-endian ticks sort bytewise, as DynamoDB compares B values, in time order.
TICKS_OFFSET = 2**63
TICKS_BYTES = 8
# Only breaks ties between different bodies with the same 100 ns Timestamp.
DIGEST_BYTES = 8
MAX_PARTITION_KEY_BYTES = 2048
# An item counts at most 8 bytes per body character (4 in UTF-8, twice for the JobID and
# Name copied into job_id and task_type) plus the attributes added here, so only a body
# long enough to come near DynamoDB's limit is counted (counting costs a walk of the item).
MAX_BYTES_PER_BODY_CHARACTER = 8
ADDED_ATTRIBUTES_BYTES = 512
_DETAILS = {JOB: "JobDetails", TASK: "TaskDetails"}


class InvalidInput(ValueError):
    """The record can never be stored; the message says why (and holds no body content)."""


@dataclass(frozen=True)
class Notification:
    """A storable notification: where it goes, its place in the order, and its item."""

    message_id: str
    kind: str  # JOB or TASK
    key: tuple  # (job_id,) or (job_id, task_id)
    ticks: int
    order: bytes  # ordering_value(): newest wins; equal: the same notification
    item: dict  # AttributeValues, ready for PutItem


def ordering_value(ticks: int, body: str) -> bytes:
    """Timestamp ticks, then the first bytes of the body's SHA-256: compared bytewise, newest is greatest.

    Equal Timestamps are ordered by the digest of the body as sent, so the same body sent
    twice (a new SQS message, a new SentTimestamp) is the same notification, a no-op.
    """
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()[:DIGEST_BYTES]
    return (ticks + TICKS_OFFSET).to_bytes(TICKS_BYTES, "big") + digest


@dataclass(frozen=True)
class InvalidNotification:
    message_id: str
    reason: str


def parse_record(record: dict) -> Notification | InvalidNotification:
    """The Notification in one record of a Lambda SQS event, or why there is none."""
    message_id = record["messageId"]
    try:
        return _notification(message_id, record)
    except (InvalidInput, UnstorableValue) as invalid:
        return InvalidNotification(message_id, str(invalid))
    except Exception as error:  # a defect here must not hold up the batch's good records
        return InvalidNotification(message_id, f"unexpected {type(error).__name__} while reading the record")


def _notification(message_id: str, record: dict) -> Notification:
    text = record.get("body")
    if not isinstance(text, str):
        raise InvalidInput("the record has no body")
    body = _body(text)
    info = body.get("NotificationInfo")
    name = info.get("Name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidInput("NotificationInfo.Name is missing or not a non-empty string")
    kind = _kind(name, body)
    details = body[_DETAILS[kind]]
    if not isinstance(details, dict):
        raise InvalidInput(f"{_DETAILS[kind]} is not an object")
    key = _key(kind, details)
    ticks = _ticks(body)
    sent = _sent_timestamp(record)

    content = map_value(body, "", map_keys=True)
    order = ordering_value(ticks, text)
    added = {
        "job_id": {"S": key[0]},
        **({"task_id": {"N": str(key[1])}} if kind == TASK else {}),
        "task_type": {"S": name},
        "sent_timestamp": sent,
        ORDER_ATTRIBUTE: {"B": order},
    }
    clash = min(content.keys() & added.keys(), default=None)
    if clash is not None:
        raise InvalidInput(f"the body has a top-level field stored as {clash!r}, which the processor sets")
    item = content | added
    if len(text) * MAX_BYTES_PER_BODY_CHARACTER + ADDED_ATTRIBUTES_BYTES > MAX_ITEM_BYTES:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise InvalidInput(f"the item would be about {size} bytes, over DynamoDB's 400 KB limit")
    return Notification(message_id, kind, key, ticks, order, item)


def _reject_constant(constant: str):
    raise InvalidInput(f"the body contains {constant}, which is not a number DynamoDB stores")


def _object(pairs: list[tuple]) -> dict:
    """A JSON object, refused if it repeats a key: which value counts would be a guess."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidInput("an object in the body repeats a key")
    return obj


def _body(text: str) -> dict:
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


def _kind(name: str, body: dict) -> str:
    """Job or task: Names starting with "Job" prefer JobDetails, all others TaskDetails.

    A notification whose preferred details are absent is stored by the other details it
    carries, so a Name this code does not know is still stored, never rejected.
    """
    preferred, other = (JOB, TASK) if name.startswith("Job") else (TASK, JOB)
    for kind in (preferred, other):
        if _DETAILS[kind] in body:
            return kind
    raise InvalidInput("the body has neither JobDetails nor TaskDetails")


def _key(kind: str, details: dict) -> tuple:
    where = _DETAILS[kind]
    job_id = details.get("JobID")
    if not isinstance(job_id, str) or not job_id:
        raise InvalidInput(f"{where}.JobID is missing or not a non-empty string")
    if len(unicode_text(job_id, f"{where}.JobID").encode()) > MAX_PARTITION_KEY_BYTES:
        raise InvalidInput(f"{where}.JobID is longer than DynamoDB's {MAX_PARTITION_KEY_BYTES}-byte key limit")
    if kind == JOB:
        return (job_id,)
    task_id = details.get("TaskID")
    if not isinstance(task_id, Decimal) or not task_id.is_finite() or task_id != task_id.to_integral_value():
        raise InvalidInput(f"{where}.TaskID is missing or not an integer")
    number_value(task_id, f"{where}.TaskID")  # bounds it before int() expands the exponent
    return job_id, int(task_id)


def _ticks(body: dict) -> int:
    timestamp = body.get("Timestamp")
    if not isinstance(timestamp, str):
        raise InvalidInput("Timestamp is missing or not a string")
    try:
        return timestamp_ticks(timestamp)
    except TimestampError as error:
        raise InvalidInput(f"Timestamp {timestamp[:40]!r} is {error}") from None


def _sent_timestamp(record: dict) -> dict:
    attributes = record.get("attributes")
    sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    if not isinstance(sent, str) or not sent.isascii() or not sent.isdigit():
        raise InvalidInput("the record has no numeric attributes.SentTimestamp")
    return number_value(Decimal(sent), "attributes.SentTimestamp")
