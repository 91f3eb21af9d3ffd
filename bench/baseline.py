"""The documented example's way of storing notifications, restated for measurement.

Deadline's documentation ships an example Lambda. This class stores exactly the way
it does, so the benchmarks can put our processor beside it on the same stream:
- every message, as it comes, becomes one item of the documented schema (keys renamed
  with the documented mapping at every depth, numbers as Decimal rounded to 16
  significant digits, empty strings stored as NULL, plus job_id, task_id, task_type and
  sent_timestamp);
- no de-duplication and no conditions (the example's de-duplication step is a lazy
  `map` that never runs), so an older notification overwrites a newer one;
- task items, then job items, go through BatchWriteItem in chunks of 25 the way
  boto3's `Table.batch_writer` sends them, unprocessed items sent again;
- any error (a bad body, or DynamoDB rejecting a chunk that holds one key twice:
  "Provided list of item keys contains duplicates") escapes the handler, so Lambda
  counts the whole batch as failed and SQS delivers every message of it again;
- it logs what the example logs: the whole event and every message at DEBUG.

Two things differ, both in the baseline's favour: it reuses one client instead of
building a resource on every invocation, and it sends ReturnConsumedCapacity=TOTAL
(which costs nothing) so its write units are measured.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from boto3.dynamodb.types import TypeSerializer

from notification_processor.attributes import KEY_MAPPING  # the documented example's, verbatim

BATCH_WRITE_LIMIT = 25

logger = logging.getLogger(__name__)
_serializer = TypeSerializer()


def _as_decimal(number) -> Decimal:
    return Decimal(format(number, ".16g") if isinstance(number, float) else number)


def _as_item_map(message: dict) -> dict:
    item = {}
    for key, value in message.items():
        name = KEY_MAPPING.get(key, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            item[name] = _as_decimal(value)
        elif value == "":
            item[name] = None
        elif isinstance(value, dict):
            item[name] = _as_item_map(value)
        else:
            item[name] = value
    return item


def documented_item(record: dict) -> tuple[bool, dict]:
    """(is_job, item) for one SQS record, as the documented example builds it; raises on bad input."""
    body = json.loads(record["body"])
    item = _as_item_map(body)
    item["sent_timestamp"] = _as_decimal(record["attributes"]["SentTimestamp"])
    name = body["NotificationInfo"]["Name"]
    is_job = name.startswith("Job")
    details = body["JobDetails" if is_job else "TaskDetails"]
    item["job_id"] = details["JobID"]
    item["task_type"] = name
    if not is_job:
        item["task_id"] = details["TaskID"]
    return is_job, item


class DocumentedExampleBaseline:
    """Handles a Lambda SQS event the way the documented example does; see the module doc."""

    def __init__(self, client, job_table: str, task_table: str):
        self._client = client
        self._job_table = job_table
        self._task_table = task_table
        logger.setLevel(logging.DEBUG)  # as the example sets it (on the root logger)

    def handle(self, event: dict, context=None) -> dict:
        try:
            self._store(event)
        except Exception:
            # The example lets this escape; Lambda logs it and fails the whole batch.
            logger.exception("Invocation failed")
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}
        return {"batchItemFailures": []}

    def _store(self, event: dict) -> None:
        logger.debug("Input event: %s", event)
        task_items, job_items = [], []
        for record in event["Records"]:
            logger.debug("About to process SQS Message: %s", record)
            logger.debug("%s", record)  # the example also print()s it
            is_job, item = documented_item(record)
            (job_items if is_job else task_items).append(item)
        logger.debug("Writing Items to %s", self._task_table)
        self._batch_write(self._task_table, task_items)
        self._batch_write(self._job_table, job_items)

    def _batch_write(self, table: str, items: list[dict]) -> None:
        pending = [{k: _serializer.serialize(v) for k, v in item.items()} for item in items]
        while pending:
            chunk, pending = pending[:BATCH_WRITE_LIMIT], pending[BATCH_WRITE_LIMIT:]
            response = self._client.batch_write_item(
                RequestItems={table: [{"PutRequest": {"Item": item}} for item in chunk]},
                ReturnConsumedCapacity="TOTAL",
            )
            unprocessed = response.get("UnprocessedItems", {}).get(table, [])
            pending.extend(request["PutRequest"]["Item"] for request in unprocessed)
