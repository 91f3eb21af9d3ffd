"""One id per stored notification, the same whoever reads the item: the processor or a stream.

The id digests the item as stored, without the two attributes that are not the
notification's content: the ordering attribute (its encoding is the processor's
business) and SQS's SentTimestamp (the same body sent twice is the same notification).
Numbers are compared by value, since DynamoDB hands back `1.10` as `1.1`, and binary
values by their bytes, whether a client gives them as bytes or a stream as base64.
So the history entry the processor writes and the status-change event the stream's
consumer publishes for one notification carry the same id, and a retried publish of
one stream record carries the id of the first.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from decimal import Context, Decimal

from .notifications import ORDER_ATTRIBUTE

NOT_CONTENT = frozenset({ORDER_ATTRIBUTE, "sent_timestamp"})
ID_HEX_DIGITS = 32  # 128 bits, as many as a UUID
# Wide enough for DynamoDB's 38 significant digits: normalizing never rounds.
_NUMBERS = Context(prec=40)


def notification_id(item: Mapping[str, dict]) -> str:
    """The stored notification's id: 32 hex digits of a SHA-256 of its content's canonical form."""
    content = {name: _canonical(value) for name, value in item.items() if name not in NOT_CONTENT}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:ID_HEX_DIGITS]


def _canonical(value: dict):
    ((kind, content),) = value.items()
    if kind == "N":
        return {kind: _number(content)}
    if kind == "B":
        return {kind: _base64(content)}
    if kind == "M":
        return {kind: {name: _canonical(element) for name, element in content.items()}}
    if kind == "L":
        return {kind: [_canonical(element) for element in content]}
    if kind == "NS":
        return {kind: sorted(map(_number, content))}
    if kind == "BS":
        return {kind: sorted(map(_base64, content))}
    if kind == "SS":
        return {kind: sorted(content)}
    return value  # S, BOOL, NULL


def _number(text: str) -> str:
    return str(_NUMBERS.normalize(Decimal(text)))


def _base64(content: bytes | str) -> str:
    return base64.b64encode(content).decode() if isinstance(content, bytes) else content
