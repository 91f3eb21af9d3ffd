"""The SQS side of a record: its messageId, its body text and when SQS received it.

Nothing here knows what Deadline puts in a body; a second source of events would
bring its own body rules and reuse this envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .attributes import number_value
from .errors import InvalidInput


@dataclass(frozen=True)
class Envelope:
    message_id: str
    body: str
    sent_ms: int  # attributes.SentTimestamp: when SQS received the message, in epoch milliseconds
    sent_timestamp: dict  # the same, as the N AttributeValue stored


def open_envelope(message_id: str, record: dict) -> Envelope:
    text = record.get("body")
    if not isinstance(text, str):
        raise InvalidInput("the record has no body")
    attributes = record.get("attributes")
    sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    if not isinstance(sent, str) or not sent.isascii() or not sent.isdigit():
        raise InvalidInput("the record has no numeric attributes.SentTimestamp")
    stored = number_value(Decimal(sent), "attributes.SentTimestamp")  # bounds it before int() reads it
    return Envelope(message_id, text, int(sent), stored)
