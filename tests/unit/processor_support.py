"""Building blocks for the processor's tests: Lambda SQS events, notification bodies, tables.

Bodies are the documented examples with their keys, Timestamp and status replaced,
so every test notification has the real shape. The table helpers take a client and
do I/O only when called (the integration tests call them).
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
from datetime import datetime, timedelta

from bench.metering import statement_item
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.notifications import TASK, Notification, parse_record
from notification_processor.timestamps import TICKS_PER_SECOND

# The documented task notification's Timestamp (2020-08-13T20:56:59.1013786Z), in ticks.
DOCUMENTED_TASK_TICKS = 1597352219_1013786
_EPOCH = datetime(1970, 1, 1)
_message_numbers = itertools.count()
# A fixed SentTimestamp base (epoch milliseconds, 2027-01-15), after every Timestamp the tests
# send, as SQS receives a notification after Deadline stamps it; each record adds its number.
SENT_BASE_MS = 1_800_000_000_000


def timestamp_text(ticks: int, offset_minutes: int = 0, digits: int = 7) -> str:
    """The Timestamp for `ticks` (100 ns since the epoch) at a UTC offset, as Deadline writes it.

    `digits` below 7 drops trailing fraction digits (which must then be zeros).
    """
    seconds, fraction = divmod(ticks + offset_minutes * 60 * TICKS_PER_SECOND, TICKS_PER_SECOND)
    text = f"{fraction:07d}"
    if text[digits:].strip("0"):
        raise ValueError(f"{ticks} needs more than {digits} fractional digits")
    local = (_EPOCH + timedelta(seconds=seconds)).isoformat()
    if offset_minutes:
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        suffix = f"{sign}{hours:02d}:{minutes:02d}"
    else:
        suffix = "Z"
    return local + (f".{text[:digits]}" if digits else "") + suffix


def job_body(template: dict, job_id: str, ticks: int, status: str = "Completed") -> dict:
    """A job notification like the documented one."""
    body = copy.deepcopy(template)
    body["JobDetails"]["JobID"] = job_id
    body["JobDetails"]["JobStatus"] = status
    body["Timestamp"] = timestamp_text(ticks)
    return body


def task_body(template: dict, job_id: str, task_id: int, ticks: int, status: str = "Completed") -> dict:
    """A task notification like the documented one."""
    body = copy.deepcopy(template)
    body["TaskDetails"].update(JobID=job_id, TaskID=task_id, Status=status)
    body["Timestamp"] = timestamp_text(ticks)
    return body


def sqs_record(body: dict | str, message_id: str | None = None, sent_ms: int | None = None) -> dict:
    """One record of a Lambda SQS event, as the event source mapping delivers it."""
    number = next(_message_numbers)
    text = body if isinstance(body, str) else json.dumps(body)
    sent = str(SENT_BASE_MS + number if sent_ms is None else sent_ms)
    return {
        "messageId": message_id or f"message-{number}",
        "receiptHandle": f"receipt-{number}",
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": sent,
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": sent,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:DeadlineNotifications",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: list[dict]) -> dict:
    return {"Records": records}


def failed_ids(response: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


def processor_client(dynamodb_local, **overrides):
    """A DynamoDB Local client configured as the processor's own (CLIENT_OPTIONS)."""
    return dynamodb_local.client(**(CLIENT_OPTIONS | overrides))


def logged_processor(client, tables) -> tuple[BatchProcessor, io.StringIO]:
    """A processor on the test's tables, and the stream it logs to."""
    log = io.StringIO()
    return BatchProcessor(client, tables.names, log_stream=log), log


def log_lines(log: io.StringIO, event: str | None = None) -> list[dict]:
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    return [line for line in lines if event is None or line["event"] == event]


def stored_items(tables) -> dict[tuple, dict]:
    """Every item of both tables, by (kind, key) as the processor keys them."""
    items = {}
    for kind, table in tables.names.items():
        for page in tables.client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                key = (item["job_id"]["S"],) + ((int(item["task_id"]["N"]),) if kind == TASK else ())
                items[kind, key] = item
    return items


def newest_items(records: list[dict]) -> dict[tuple, dict]:
    """The ground truth: per key, the item of the newest valid notification among `records`."""
    newest: dict[tuple, Notification] = {}
    for record in records:
        notification = parse_record(record)
        if isinstance(notification, Notification):
            current = newest.get((notification.kind, notification.key))
            if current is None or notification.order > current.order:
                newest[notification.kind, notification.key] = notification
    return {key: notification.item for key, notification in newest.items()}


# The processor's write requests: a conditional PutItem, or statements of many keys.
WRITE_OPERATIONS = ("PutItem", "BatchExecuteStatement")


def on_writes(client, hook) -> None:
    """Register a botocore before-send `hook(request, **_)` for every write request of `client`."""
    for operation in WRITE_OPERATIONS:
        client.meta.events.register(f"before-send.dynamodb.{operation}", hook)


def request_items(request) -> list[dict]:
    """The items a write request carries (a statement's: the attributes it sets by parameter)."""
    body = json.loads(request.body)
    if "Item" in body:
        return [body["Item"]]
    return [statement_item(statement)[1] for statement in body["Statements"]]


def is_statement_request(request) -> bool:
    return b'"Statements"' in request.body


def task_key(item: dict) -> tuple:
    return (item["job_id"]["S"], int(item["task_id"]["N"]))
