"""History stream records in, JSON lines to Amazon Data Firehose out, `batchItemFailures` back to Lambda.

Each INSERT of the history (one distinct notification, written once) becomes one row
(columns.row) as one JSON line; MODIFY and REMOVE (TTL's deletions) are not notifications
and are passed over (the event source mapping's filter already leaves them out), and so
are the test jobs of `deadline-sqs smoke` and `verify` (status_events.changes.TEST_JOB_PREFIX). Lines go
out in the stream's order in PutRecordBatch calls within Firehose's limits (500 records,
4 MiB). Firehose may refuse some records of a call: only those are sent again, with
backoff, a bounded number of times. If a record still fails, the archiver stops and
reports the earliest failed record's sequence number: Lambda keeps everything before it as
done and delivers the batch again from it (the mapping bounds those retries, then describes
the batch in the on-failure queue). Records of the failed call that Firehose had accepted
are then archived twice, as is a call whose answer was lost: rows carry event_id and
reports drop repeats by it. A record that is no stored notification (columns.UnarchivableItem)
is logged with its reason and reported the same way, so it reaches the on-failure queue
(alarmed) instead of vanishing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from status_events.changes import TEST_JOB_PREFIX

from .columns import UnarchivableItem, row

DELIVERY_STREAM_VARIABLE = "DELIVERY_STREAM_NAME"
ARCHIVED_EVENT = "INSERT"  # the history writes each notification once: an INSERT
MAX_RECORDS_PER_CALL = 500  # PutRecordBatch's limits
MAX_BYTES_PER_CALL = 4 * 1024 * 1024
PUT_ATTEMPTS = 4  # per call and invocation: the first try and 3 retries of what failed
BACKOFF_SECONDS = 0.2  # doubled after each retry
# A call of 4 MiB takes seconds; one is started only with CALL_BUDGET_SECONDS of the function's
# time left, so the function answers before its timeout (the client's 2 x (1 s + 10 s) fit in it).
CLIENT_OPTIONS = {"retries": {"mode": "standard", "total_max_attempts": 2}, "connect_timeout": 1, "read_timeout": 10}
CALL_BUDGET_SECONDS = 25


class ConfigurationError(RuntimeError):
    """The archiver's environment does not say where to deliver."""


@dataclass(frozen=True)
class Line:
    """One archived row and the stream record it came from."""

    sequence_number: str
    data: bytes


def line_of(record: dict) -> Line | None:
    """The JSON line for one stream record, or None for a record that is no new notification or is a test job's."""
    if record.get("eventName") != ARCHIVED_EVENT:
        return None
    stream = record["dynamodb"]
    if stream["NewImage"].get("job_id", {}).get("S", "").startswith(TEST_JOB_PREFIX):
        return None  # smoke's and verify's test jobs: no studio's work, so in no report
    text = json.dumps(row(stream["NewImage"]), separators=(",", ":"), ensure_ascii=False)
    return Line(stream["SequenceNumber"], (text + "\n").encode("utf-8", "surrogatepass"))


def calls(lines: list[Line]) -> list[list[Line]]:
    """The lines in order, cut into PutRecordBatch calls within its limits."""
    batches: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    for line in lines:
        if current and (len(current) == MAX_RECORDS_PER_CALL or size + len(line.data) > MAX_BYTES_PER_CALL):
            batches.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line.data)
    return [*batches, current] if current else batches


class Archiver:
    """Delivers the rows of Lambda DynamoDB stream events of the history to one Firehose stream."""

    def __init__(
        self,
        client,
        delivery_stream: str,
        *,
        attempts: int = PUT_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        log_stream=None,
    ):
        self._client = client
        self.delivery_stream = delivery_stream
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._stream = log_stream

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> Archiver:
        if not environ.get(DELIVERY_STREAM_VARIABLE):
            raise ConfigurationError(f"the environment does not say where to deliver: set {DELIVERY_STREAM_VARIABLE}")
        return cls(client or boto3.client("firehose", config=Config(**CLIENT_OPTIONS)), environ[DELIVERY_STREAM_VARIABLE])

    def handle(self, event: dict, context=None) -> dict:
        """Archive one stream event; returns {"batchItemFailures": [...]} (at most one: where to resume)."""
        records = event.get("Records", [])
        lines: list[Line] = []
        failed_at = None
        for record in records:
            try:
                line = line_of(record)
            except (UnarchivableItem, KeyError, TypeError, ValueError) as error:
                failed_at = record["dynamodb"]["SequenceNumber"]
                self._log("ERROR", "record_unarchivable", sequenceNumber=failed_at,
                          error=f"{type(error).__name__}: {error}")  # fmt: skip
                break
            if line is not None:
                lines.append(line)
        archived = 0
        for batch in calls(lines):
            failures = self._put(batch, context)
            archived += len(batch) - len(failures)
            if failures:
                failed_at = failures[0].sequence_number  # the earliest: calls keep the stream's order
                break
        self._log(
            "INFO",
            "rows_archived",
            Records=len(records),
            Rows=len(lines),
            Archived=archived,
            requestId=getattr(context, "aws_request_id", None),
            **({"RetryFrom": failed_at} if failed_at else {}),
        )
        return {"batchItemFailures": [{"itemIdentifier": failed_at}] if failed_at else []}

    def _put(self, batch: list[Line], context=None) -> list[Line]:
        """PutRecordBatch `batch`, sending again only the refused records; those still refused, in order."""
        remaining = batch
        error = "no time left before the function's timeout"
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            if _seconds_left(context) < CALL_BUDGET_SECONDS:
                break
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.delivery_stream, Records=[{"Data": line.data} for line in remaining]
                )
            except (ClientError, BotoCoreError) as failure:  # after the client's own retries: the whole call again
                error = f"{type(failure).__name__}: {failure}"
                continue
            results = response.get("RequestResponses", [])
            refused = [
                (line, f"{result.get('ErrorCode')}: {result.get('ErrorMessage', '')}")
                for line, result in zip(remaining, results, strict=True)
                if result.get("ErrorCode")
            ]
            if not refused:
                return []
            remaining = [line for line, _ in refused]
            error = refused[0][1]
        self._log("ERROR", "delivery_failed", Records=len(remaining), sequenceNumber=remaining[0].sequence_number,
                  error=error)  # fmt: skip
        return remaining

    def _log(self, level: str, event: str, **fields) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"level": level, "event": event, **fields}, separators=(",", ":"), default=str) + "\n")
        stream.flush()


def _seconds_left(context) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float("inf") if remaining is None else remaining() / 1000
