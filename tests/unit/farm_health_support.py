"""Building blocks for the failing-worker tests: history stream records of task notifications.

Each record's image is the history entry the processor writes (history.history_entries),
as Lambda's stream event shows it, so the tests read the real stored shape.
"""

from __future__ import annotations

from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from notification_processor.timestamps import TICKS_PER_SECOND
from tests.unit.processor_support import sqs_record, task_body
from tests.unit.status_events_support import as_streamed

MINUTE = 60 * TICKS_PER_SECOND
# 2026-01-01T00:00:00Z in ticks since the epoch: the tests' failures happen after it.
START = 1_767_225_600 * TICKS_PER_SECOND
_sequence = iter(range(1, 10**9))


def history_image(template: dict, job_id: str, task_id: int, ticks: int, worker: str, status: str = "Failed",
                  reason: str = "Error: renderer crashed") -> dict:  # fmt: skip
    body = task_body(template, job_id, task_id, ticks, status)
    body["TaskDetails"]["WorkerName"] = worker
    body["NotificationInfo"]["StopReason"] = reason
    notification = parse_record(sqs_record(body))
    assert isinstance(notification, Notification)
    (entry,) = history_entries([notification], now_seconds=1_800_000_000, days=90)
    return entry.item


def history_record(image: dict, event_name: str = "INSERT") -> dict:
    """One record of a Lambda DynamoDB stream event of the history (NEW_IMAGE)."""
    number = f"{next(_sequence):021d}"
    return {
        "eventID": f"event-{number}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_800_000_000,
            "Keys": as_streamed({name: image[name] for name in ("job_id", "timeline")}),
            "NewImage": as_streamed(image),
            "SequenceNumber": number,
            "SizeBytes": 1000,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/history/stream/2026-01-01T00:00:00.000",
    }


def failure_record(template: dict, job_id: str, task_id: int, minute: float, worker: str = "render007", **kwargs) -> dict:
    """A history INSERT of a failed task at START + `minute` minutes."""
    return history_record(history_image(template, job_id, task_id, START + int(minute * MINUTE), worker, **kwargs))
