"""Each change once, in order: one conditional write per delivery in the state table.

The item of a job's (task's, alarm message's) destination holds the last change claimed for it:
``ticks`` (its Timestamp in .NET ticks), ``event_id``, ``pending`` (claimed, not yet confirmed
sent), ``claimed_at`` and ``expires_at`` (DynamoDB's TTL; a week later). ``claim`` puts the new
change only if the key is new, the change is newer, the item has expired, or it is this very
change, claimed and unconfirmed for longer than the lease (its sender crashed). Otherwise the
change was already sent (a repeat by eventId) or is older than one sent: it is dropped.
After the send, ``confirm``; on a failed send, ``release`` puts the previous item back, so SQS's
retry can claim it again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from notification_processor.timestamps import TimestampError, timestamp_ticks

KEY = "key"
EXPIRES_AT = "expires_at"  # the table's TTL attribute
RETENTION_SECONDS = 7 * 86_400
_EPOCH_TICKS = 0


@dataclass(frozen=True)
class Claim:
    key: str
    event_id: str
    previous: dict | None  # the item the claim replaced (DynamoDB's form), or None


def state_key(destination: str, *, event: dict | None = None, notification: dict | None = None) -> str:
    """``<destination>#job#<jobId>``, ``<destination>#task#<jobId>#<taskId>`` or ``<destination>#sns#<MessageId>``."""
    if notification is not None:
        return f"{destination}#sns#{notification['MessageId']}"
    detail = (event or {}).get("detail", {})
    if "Task" in str((event or {}).get("detail-type", "")):
        return f"{destination}#task#{detail.get('jobId', '')}#{detail.get('taskId', '')}"
    return f"{destination}#job#{detail.get('jobId', '')}"


def change_ticks(*, event: dict | None = None, notification: dict | None = None) -> int:
    """A change's instant in ticks: the notification's Timestamp, else the event's (or SNS message's) time."""
    candidates = [notification.get("Timestamp")] if notification is not None else []
    if event is not None:
        candidates += [event.get("detail", {}).get("timestamp"), event.get("time")]
    for text in candidates:
        if isinstance(text, str):
            try:
                return timestamp_ticks(text)
            except TimestampError:
                continue
    return _EPOCH_TICKS


def change_id(*, event: dict | None = None, notification: dict | None = None) -> str:
    if notification is not None:
        return str(notification["MessageId"])
    detail = (event or {}).get("detail", {})
    return str(detail.get("eventId") or (event or {}).get("id", ""))


class DeliveryState:
    """Claims, confirms and releases deliveries in the state table (a boto3 DynamoDB client's)."""

    def __init__(self, client, table_name: str, *, lease_seconds: float, clock: Callable[[], float] = time.time):
        self._client = client
        self.table_name = table_name
        self.lease_seconds = lease_seconds
        self._clock = clock

    def claim(self, key: str, *, ticks: int, event_id: str) -> Claim | None:
        """The claim of this change, or None: already sent, being sent, or older than one sent."""
        now = int(self._clock())
        try:
            response = self._client.put_item(
                TableName=self.table_name,
                Item={
                    KEY: {"S": key},
                    "ticks": {"N": str(ticks)},
                    "event_id": {"S": event_id},
                    "pending": {"BOOL": True},
                    "claimed_at": {"N": str(now)},
                    EXPIRES_AT: {"N": str(now + RETENTION_SECONDS)},
                },
                ConditionExpression=(
                    "attribute_not_exists(#k) OR ticks < :ticks OR expires_at < :now"
                    " OR (event_id = :id AND pending = :true AND claimed_at < :lease_start)"
                ),
                ExpressionAttributeNames={"#k": KEY},
                ExpressionAttributeValues={
                    ":ticks": {"N": str(ticks)},
                    ":now": {"N": str(now)},
                    ":id": {"S": event_id},
                    ":true": {"BOOL": True},
                    ":lease_start": {"N": str(now - int(self.lease_seconds))},
                },
                ReturnValues="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return Claim(key, event_id, response.get("Attributes"))

    def confirm(self, claim: Claim) -> None:
        """The change was sent: no longer pending (unless a newer change has taken the key since)."""
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self.table_name,
                Key={KEY: {"S": claim.key}},
                UpdateExpression="SET pending = :false",
                ConditionExpression="event_id = :id",
                ExpressionAttributeValues={":false": {"BOOL": False}, ":id": {"S": claim.event_id}},
            )

    def release(self, claim: Claim) -> None:
        """The send failed: the key as it was before the claim (unless another claim has taken it since)."""
        condition = {
            "ConditionExpression": "event_id = :id AND pending = :true",
            "ExpressionAttributeValues": {":id": {"S": claim.event_id}, ":true": {"BOOL": True}},
        }
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            if claim.previous is None:
                self._client.delete_item(TableName=self.table_name, Key={KEY: {"S": claim.key}}, **condition)
            else:
                self._client.put_item(TableName=self.table_name, Item=claim.previous, **condition)
