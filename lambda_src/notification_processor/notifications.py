"""One SQS record -> the DynamoDB item it stores, or the reason it cannot be stored.

Stored schema (the documented example Lambda's, so existing readers keep working):
the body's fields under KEY_MAPPING's names, the table's key attributes (`job_id` S
and, for tasks, `task_id` N), `sent_timestamp` (N, SQS's SentTimestamp) and
`task_type` (NotificationInfo.Name); plus the ordering attribute ORDER_ATTRIBUTE
(N, up to 38 digits: see `ordering_value`).

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
from .timestamps import TICKS_PER_MILLISECOND, TICKS_PER_SECOND

__all__ = ["JOB", "ORDER_ATTRIBUTE", "TASK", "InvalidNotification", "Notification", "parse_record"]

# One byte of name: every item pays for it, and most notifications sit just under 1 KB,
# where a few bytes more cost a second write unit. Not "v", the binary attribute of
# earlier versions: an item that still has one is ordered by its `timestamp` (store.py).
ORDER_ATTRIBUTE = "o"
# A Number, so that every reader handles it (boto3's resource layer reads it as a Decimal):
# (ticks + TICKS_OFFSET) * DIGEST_MODULUS + digest. The offset makes every Timestamp the
# parser accepts (years 1 to 9999, any offset) a positive number of at most 19 digits, and
# the digest takes the other 19 of DynamoDB's 38, so the whole compares exactly.
TICKS_OFFSET = 10**18
DIGEST_MODULUS = 10**19
# Only breaks ties between different bodies with the same 100 ns Timestamp.
DIGEST_BYTES = 8
# Deadline's Remote Connection Server stamps a notification before it sends it, about once a
# minute and later after an outage, so Timestamp is normally before SentTimestamp. One far
# after it comes from a wrong clock and would make every real notification of its key stale.
DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS = 86_400
_DURATION_UNITS = (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
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
    order: int  # ordering_value(): newest wins; equal: the same notification
    item: dict  # AttributeValues, ready for PutItem


@dataclass(frozen=True)
class InvalidNotification:
    message_id: str
    reason: str


def ordering_value(ticks: int, body: str) -> int:
    """Timestamp ticks, then a digest of the body: the newest notification has the greatest value.

    Equal Timestamps are ordered by the digest of the body as sent, so the same body sent
    twice (a new SQS message, a new SentTimestamp) is the same notification, a no-op.
    """
    digest = hashlib.sha256(body.encode("utf-8", "surrogatepass")).digest()[:DIGEST_BYTES]
    return ordering_number(ticks, int.from_bytes(digest, "big"))


def ordering_number(ticks: int, digest: int) -> int:
    return (ticks + TICKS_OFFSET) * DIGEST_MODULUS + digest % DIGEST_MODULUS


def parse_record(
    record: dict, max_timestamp_ahead_seconds: int = DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS
) -> Notification | InvalidNotification:
    """The Notification in one record of a Lambda SQS event, or why there is none.

    A Timestamp more than `max_timestamp_ahead_seconds` after the record's SentTimestamp
    is refused: it can only come from a wrong clock.
    """
    message_id = record["messageId"]
    try:
        return _notification(message_id, record, max_timestamp_ahead_seconds)
    except InvalidInput as invalid:
        return InvalidNotification(message_id, str(invalid))
    except Exception as error:  # a defect here must not hold up the batch's good records
        return InvalidNotification(message_id, f"unexpected {type(error).__name__} while reading the record")


def _notification(message_id: str, record: dict, max_timestamp_ahead_seconds: int) -> Notification:
    envelope = open_envelope(message_id, record)
    body = read_body(envelope.body)
    ahead = body.ticks - envelope.sent_ms * TICKS_PER_MILLISECOND
    if ahead > max_timestamp_ahead_seconds * TICKS_PER_SECOND:
        raise InvalidInput(
            f"Timestamp {body.timestamp!r} is {_duration(ahead // TICKS_PER_SECOND)} after SQS received the message "
            f"(more than the {max_timestamp_ahead_seconds} s allowed for a clock's error)"
        )
    content = map_value(body.fields, "", map_keys=True)
    order = ordering_value(body.ticks, envelope.body)
    added = {
        **{attribute.name: {attribute.type: str(value)} for attribute, value in zip(body.role.key, body.key, strict=True)},
        "task_type": {"S": body.name},
        "sent_timestamp": envelope.sent_timestamp,
        ORDER_ATTRIBUTE: {"N": str(order)},
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


def _duration(seconds: int) -> str:
    """`seconds` in its largest whole unit: "75 years", "2 hours"."""
    name, length = next((name, length) for name, length in _DURATION_UNITS if seconds >= length or length == 1)
    count = seconds // length
    return f"{count} {name}{'' if count == 1 else 's'}"
