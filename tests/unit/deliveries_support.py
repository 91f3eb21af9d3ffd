"""Sample events as the delivery rules put them on DeliveryQueue: EventBridge's event of a job's (task's)
status change, with everything the publisher can carry, or with only what it always carries."""

from __future__ import annotations

import itertools
import json

from status_events.changes import SOURCE

_ids = itertools.count(1)

FULL_DETAIL = {
    "studio": "default",
    "jobId": "65e5d7a0c1b2d3e4f5a6b7c8",
    "jobName": "shot010_lighting",
    "userName": "amelie",
    "pluginName": "MayaBatch",
    "pool": "gpu",
    "group": "lighting",
    "errors": 3,
    "department": "Lighting",
    "batchName": "shot010",
    "frameRange": "1-100",
    "taskCount": 10,
    "notification": "JobFailedNotification",
    "statusReason": "Job has failed",
    "timestamp": "2024-03-04T15:02:11.1234567Z",
    "previousStatus": "Active",
    "status": "Failed",
    "eventId": "0123456789abcdef0123456789abcdef",
}
# What a job event always carries: the publisher leaves out every empty field.
BARE_DETAIL = {"studio": "default", "jobId": "65e5d7a0c1b2d3e4f5a6b7c9", "status": "Completed", "eventId": "f" * 32}


def job_event(detail: dict | None = None, **changes) -> dict:
    """An EventBridge event of a job's status change (``changes`` update FULL_DETAIL, None removes a field)."""
    merged = {**(FULL_DETAIL if detail is None else detail), **changes}
    return {
        "version": "0",
        "id": f"00000000-0000-0000-0000-{next(_ids):012d}",
        "detail-type": "Deadline Job Status Change",
        "source": SOURCE,
        "account": "123456789012",
        "time": "2024-03-04T15:02:11Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {name: value for name, value in merged.items() if value is not None},
    }


def wrapped(destination: str, event: dict) -> str:
    """An SQS body as the destination's rule writes it (stacks.destinations.rule_input_template)."""
    return json.dumps({"destination": destination, "event": event})


def sqs_message(body: str, message_id: str | None = None) -> dict:
    return {"messageId": message_id or f"message-{next(_ids)}", "body": body}


def alarm_notification(message: str, topic_arn: str = "arn:aws:sns:eu-west-1:123456789012:alarms") -> dict:
    """An alarm-topic notification as SNS delivers it to an SQS queue without raw delivery."""
    return {
        "Type": "Notification",
        "MessageId": f"1111aaaa-0000-0000-0000-{next(_ids):012d}",
        "TopicArn": topic_arn,
        "Subject": "ALARM: \"DeliveriesDeadLetterAlarm\" in EU (Ireland)",
        "Message": message,
        "Timestamp": "2024-03-04T15:05:00.000Z",
        "SignatureVersion": "1",
    }
