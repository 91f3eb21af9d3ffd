"""Building blocks for the archive's tests: history items as the processor writes them, and the
history stream's records of them, as Lambda delivers them (NEW_IMAGE)."""

from __future__ import annotations

import itertools

from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from notification_processor.roles import HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from tests.unit.processor_support import sqs_record
from tests.unit.status_events_support import as_streamed

NOW_SECONDS = 1_900_000_000  # when the entries are written: long after their Timestamps
_sequence_numbers = itertools.count(1)


def history_item(body: dict) -> dict:
    """The history entry the processor writes for `body`, as the history's stream shows it."""
    notification = parse_record(sqs_record(body))
    assert isinstance(notification, Notification)
    (entry,) = history_entries([notification], NOW_SECONDS, days=90)
    return as_streamed(entry.item)


def history_record(item: dict, event_name: str = "INSERT") -> dict:
    """One record of a Lambda DynamoDB stream event of the history table (NEW_IMAGE)."""
    stream = {
        "ApproximateCreationDateTime": NOW_SECONDS,
        "Keys": {name: item[name] for name in (HISTORY_PARTITION_KEY.name, HISTORY_SORT_KEY)},
        "SequenceNumber": f"{next(_sequence_numbers):021d}",
        "SizeBytes": 1000,
        "StreamViewType": "NEW_IMAGE",
    }
    if event_name != "REMOVE":
        stream["NewImage"] = item
    return {
        "eventID": f"event-{stream['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": stream,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/history/stream/2026-01-01T00:00:00.000",
    }
