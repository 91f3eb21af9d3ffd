"""Building blocks for the publisher's tests: stream records of stored items, as Lambda delivers them.

Items come from the processor itself (parse_record) or, for the documented Lambda's,
from the benchmarks' restatement of it, so every image has the real stored shape.
"""

from __future__ import annotations

import base64
import itertools
import json
from decimal import Context, Decimal

from boto3.dynamodb.types import TypeSerializer

from bench.baseline import documented_item
from notification_processor.notifications import Notification, parse_record
from notification_processor.roles import JOB, TABLE_ROLES, TASK
from tests.unit.processor_support import job_body, sqs_record, task_body

_sequence_numbers = itertools.count(1)
_serializer = TypeSerializer()


def stored_item(body: dict) -> dict:
    """The item the processor stores for `body` (AttributeValues, the ordering attribute as bytes)."""
    notification = parse_record(sqs_record(body))
    assert isinstance(notification, Notification)
    return notification.item


def documented_lambda_item(body: dict) -> dict:
    """The item Deadline's documented Lambda stores for `body`: no ordering attribute, NULL for ""."""
    _, item = documented_item(sqs_record(body))
    return {name: _serializer.serialize(value) for name, value in item.items()}


def as_streamed(item: dict) -> dict:
    """`item` as a Lambda stream record shows it: numbers in DynamoDB's form, binary as base64."""

    def convert(value: dict) -> dict:
        ((kind, content),) = value.items()
        if kind == "N":
            return {"N": _dynamodb_number(content)}
        if kind == "B":
            return {"B": base64.b64encode(content).decode()}
        if kind == "M":
            return {"M": {name: convert(element) for name, element in content.items()}}
        if kind == "L":
            return {"L": [convert(element) for element in content]}
        return value

    return {name: convert(value) for name, value in item.items()}


def _dynamodb_number(text: str) -> str:
    """How DynamoDB hands a number back: no trailing zeros, no exponent (1.10 -> 1.1, 1E+2 -> 100)."""
    number = Context(prec=40).normalize(Decimal(text))
    return format(number, "f")


def stream_record(event_name: str, new: dict | None = None, old: dict | None = None) -> dict:
    """One record of a Lambda DynamoDB stream event (NEW_AND_OLD_IMAGES) for these items."""
    image = new or old
    assert image is not None
    kind = TASK if "task_id" in image else JOB
    keys = {name: image[name] for name in TABLE_ROLES[kind].key_names}
    stream = {
        "ApproximateCreationDateTime": 1_700_000_000,
        "Keys": as_streamed(keys),
        "SequenceNumber": f"{next(_sequence_numbers):021d}",
        "SizeBytes": 1000,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if new is not None:
        stream["NewImage"] = as_streamed(new)
    if old is not None:
        stream["OldImage"] = as_streamed(old)
    return {
        "eventID": f"event-{stream['SequenceNumber']}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": stream,
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:000000000000:table/{kind}/stream/2026-01-01T00:00:00.000",
    }


def job_item(template: dict, job_id: str, ticks: int, status: str, **details) -> dict:
    body = job_body(template, job_id, ticks, status)
    body["JobDetails"].update(details)
    return stored_item(body)


def task_item(template: dict, job_id: str, task_id: int, ticks: int, status: str, **details) -> dict:
    body = task_body(template, job_id, task_id, ticks, status)
    body["TaskDetails"].update(details)
    return stored_item(body)


def details(entry: dict) -> dict:
    return json.loads(entry["Detail"])
