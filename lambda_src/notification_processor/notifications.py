"""One SQS record -> the DynamoDB item it stores, or the reason it cannot be stored.

Stored schema (the documented example Lambda's, so existing readers keep working):
the body's fields under KEY_MAPPING's names, the table's key attributes (`job_id` S
and, for tasks, `task_id` N), `sent_timestamp` (N, SQS's SentTimestamp) and
`task_type` (NotificationInfo.Name); plus the ordering attribute ORDER_ATTRIBUTE
(B, 16 bytes: see `ordering_value`).

The record's envelope (envelope.py) and the Deadline body rules (deadline.py) are read
apart; this module joins them into the item.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .attributes import MAX_ITEM_BYTES, item_size, map_value
from .deadline import read_body
from .envelope import open_envelope
from .errors import InvalidInput
from .roles import HISTORY_EXPIRY_ATTRIBUTE, HISTORY_SORT_KEY, JOB, TASK

__all__ = ["JOB", "ORDER_ATTRIBUTE", "TASK", "InvalidNotification", "Notification", "parse_record"]

# One byte of name: every item pays for it, and most notifications sit just under 1 KB,
# where a few bytes more cost a second write unit.
ORDER_ATTRIBUTE = "v"
# Unsigned big-endian ticks sort bytewise, as DynamoDB compares B values, in time order.
TICKS_OFFSET = 2**63
TICKS_BYTES = 8
# Only breaks ties between different bodies with the same 100 ns Timestamp.
DIGEST_BYTES = 8
# An item counts at most 8 bytes per body character (4 in UTF-8, twice for the JobID and
# Name copied into job_id and task_type) plus the attributes added here, so only a body
# long enough to come near DynamoDB's limit is counted (counting costs a walk of the item).
MAX_BYTES_PER_BODY_CHARACTER = 8
ADDED_ATTRIBUTES_BYTES = 512
# What a history entry adds (history.py): refused as top-level fields whether or not the
# history is on, so a notification's validity never depends on the configuration.
HISTORY_ATTRIBUTES = frozenset({HISTORY_SORT_KEY, HISTORY_EXPIRY_ATTRIBUTE})


@dataclass(frozen=True)
class Notification:
    """A storable notification: where it goes, its place in the order, and its item."""

    message_id: str
    kind: str  # a key of roles.TABLE_ROLES
    key: tuple  # the values of the table's key: (job_id,) or (job_id, task_id)
    ticks: int
    order: bytes  # ordering_value(): newest wins; equal: the same notification
    item: dict  # AttributeValues, ready for PutItem


@dataclass(frozen=True)
class InvalidNotification:
    message_id: str
    reason: str


def ordering_value(ticks: int, body: str) -> bytes:
    """Timestamp ticks, then the first bytes of the body's SHA-256: compared bytewise, newest is greatest.

    Equal Timestamps are ordered by the digest of the body as sent, so the same body sent
    twice (a new SQS message, a new SentTimestamp) is the same notification, a no-op.
    """
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()[:DIGEST_BYTES]
    return (ticks + TICKS_OFFSET).to_bytes(TICKS_BYTES, "big") + digest


def parse_record(record: dict) -> Notification | InvalidNotification:
    """The Notification in one record of a Lambda SQS event, or why there is none."""
    message_id = record["messageId"]
    try:
        return _notification(message_id, record)
    except InvalidInput as invalid:
        return InvalidNotification(message_id, str(invalid))
    except Exception as error:  # a defect here must not hold up the batch's good records
        return InvalidNotification(message_id, f"unexpected {type(error).__name__} while reading the record")


def _notification(message_id: str, record: dict) -> Notification:
    envelope = open_envelope(message_id, record)
    body = read_body(envelope.body)
    content = map_value(body.fields, "", map_keys=True)
    order = ordering_value(body.ticks, envelope.body)
    added = {
        **{attribute.name: {attribute.type: str(value)} for attribute, value in zip(body.role.key, body.key, strict=True)},
        "task_type": {"S": body.name},
        "sent_timestamp": envelope.sent_timestamp,
        ORDER_ATTRIBUTE: {"B": order},
    }
    clash = min(content.keys() & (added.keys() | HISTORY_ATTRIBUTES), default=None)
    if clash is not None:
        raise InvalidInput(f"the body has a top-level field stored as {clash!r}, which the processor sets")
    item = content | added
    if len(envelope.body) * MAX_BYTES_PER_BODY_CHARACTER + ADDED_ATTRIBUTES_BYTES > MAX_ITEM_BYTES:
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise InvalidInput(f"the item would be about {size} bytes, over DynamoDB's 400 KB limit")
    return Notification(message_id, body.role.kind, body.key, body.ticks, order, item)
