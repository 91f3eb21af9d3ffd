"""The dead-letter queue's messages and why each one could not be stored.

The reason comes from the processor's own parser (notification_processor's parse_record), so it
is the same text the processor logged when it rejected the message, without
needing access to the function's logs. A DLQ message that parses as a valid
notification was refused by DynamoDB itself, or its writes kept failing (throttling,
errors). The Timestamp is checked against its SentTimestamp with the processor's default
tolerance (MAX_TIMESTAMP_AHEAD_SECONDS), which a deployment may have changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from deadline_sqs.aws_errors import about
from deadline_sqs.sending import SQS_BATCH_ENTRIES
from notification_processor.notifications import InvalidNotification, parse_record

STORABLE = (
    "a valid notification as read here: DynamoDB refused it, or its writes kept failing "
    "(see the function's invalid_notification and write_failed log lines)"
)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    receive_count: int
    sent_at: datetime
    reason: str


def rejection_reason(message_id: str, body: str, attributes: dict) -> str:
    """Why the processor rejects this message (STORABLE if it does not)."""
    parsed = parse_record({"messageId": message_id, "body": body, "attributes": attributes})
    return parsed.reason if isinstance(parsed, InvalidNotification) else STORABLE


def peek_dead_letters(sqs, dlq_url: str, limit: int = 1000, hide_seconds: int = 30) -> list[DeadLetter]:
    """Up to `limit` DLQ messages, left in the queue.

    Each is received with a visibility timeout of `hide_seconds`, so no message is
    listed twice, and made visible again at the end, so a redrive can follow at once.
    """
    with about(f"dead-letter queue {dlq_url}"):
        received = _receive_and_release(sqs, dlq_url, limit, hide_seconds)
    return [_dead_letter(message) for message in received.values()]


def _receive_and_release(sqs, dlq_url: str, limit: int, hide_seconds: int) -> dict[str, dict]:
    received: dict[str, dict] = {}
    while len(received) < limit:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=min(SQS_BATCH_ENTRIES, limit - len(received)),
            VisibilityTimeout=hide_seconds,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            received.setdefault(message["MessageId"], message)
    handles = [message["ReceiptHandle"] for message in received.values()]
    for start in range(0, len(handles), SQS_BATCH_ENTRIES):
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + SQS_BATCH_ENTRIES])
            ],
        )
    return received


def _dead_letter(message: dict) -> DeadLetter:
    attributes = message.get("Attributes", {})
    return DeadLetter(
        message_id=message["MessageId"],
        body=message["Body"],
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=datetime.fromtimestamp(int(attributes.get("SentTimestamp", 0)) / 1000, UTC),
        reason=rejection_reason(message["MessageId"], message["Body"], attributes),
    )
