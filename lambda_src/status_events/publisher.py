"""Stream records in, events on the bus out, `batchItemFailures` back to Lambda.

Each record of the batch becomes at most one entry (changes.change_event), in the
stream's order. Entries go out in PutEvents calls of up to 10 entries and 256 KB,
never two of one key in one call: a failed entry is retried (only it, with backoff, a
bounded number of times) before anything newer of its key is sent. If an entry still
fails, the publisher stops and reports that record's sequence number: Lambda keeps
everything before it as done and delivers the batch again from it (the mapping bounds
those retries, then sends the batch's description to the on-failure queue). Entries of
the failed call after it may then be published a second time, by a later invocation,
with the same eventId. A call whose answer is lost after EventBridge accepted it (a
timeout, a 5xx) is put again in the same invocation, by the client's retries or this
code's: its events are then published twice, with the same eventId. Delivery is at
least once; consumers drop repeats by eventId (docs/status-events.md). A call is only
started with time left for it before the function's timeout; otherwise the publisher
stops there, as if it had failed, and Lambda delivers the rest again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .changes import DEFAULT_OPT_OUT_FIELD, OPT_OUT_FIELDS, PUBLISH_MODES, STATUS_CHANGES, Change, change_event

EVENT_BUS_VARIABLE = "EVENT_BUS_NAME"
STUDIO_VARIABLE = "STUDIO_NAME"
PUBLISH_VARIABLE = "PUBLISH"
OPT_OUT_FIELD_VARIABLE = "NOTIFY_OPT_OUT_FIELD"

MAX_ENTRIES_PER_CALL = 10  # PutEvents' limits
MAX_BYTES_PER_CALL = 256 * 1024
ENTRY_TIME_BYTES = 14  # what EventBridge counts for an entry's Time
PUT_ATTEMPTS = 4  # per entry and invocation: the first try and 3 retries
BACKOFF_SECONDS = 0.2  # doubled after each retry: at most 1.4 s of waiting per call
# A PutEvents call takes at most 2 x (1 s + 3 s) with these; one is started only with
# CALL_BUDGET_SECONDS of the function's time left, so the function answers before its timeout.
CLIENT_OPTIONS = {"retries": {"mode": "standard", "total_max_attempts": 2}, "connect_timeout": 1, "read_timeout": 3}
CALL_BUDGET_SECONDS = 10


class ConfigurationError(RuntimeError):
    """The publisher's environment does not say where to publish."""


def entry_size(entry: dict) -> int:
    """The bytes EventBridge counts for a PutEvents entry against the call's 256 KB."""
    size = sum(len(entry[name].encode()) for name in ("Source", "DetailType", "Detail"))
    return size + (ENTRY_TIME_BYTES if "Time" in entry else 0)


def calls(changes: list[Change]) -> list[list[Change]]:
    """The changes in order, cut into PutEvents calls: within the limits, one change per key each."""
    batches: list[list[Change]] = []
    current: list[Change] = []
    size = 0
    for change in changes:
        bytes_needed = entry_size(change.entry)
        if current and (
            len(current) == MAX_ENTRIES_PER_CALL
            or size + bytes_needed > MAX_BYTES_PER_CALL
            or any(other.key == change.key for other in current)
        ):
            batches.append(current)
            current, size = [], 0
        current.append(change)
        size += bytes_needed
    return [*batches, current] if current else batches


class StatusEventPublisher:
    """Publishes the status changes of Lambda DynamoDB stream events on one event bus."""

    def __init__(
        self,
        client,
        bus_name: str,
        studio: str,
        publish: str = STATUS_CHANGES,
        opt_out_field: str = DEFAULT_OPT_OUT_FIELD,
        *,
        attempts: int = PUT_ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        log_stream=None,
    ):
        if publish not in PUBLISH_MODES:
            raise ConfigurationError(f"{PUBLISH_VARIABLE} must be one of {', '.join(PUBLISH_MODES)}, not {publish!r}")
        if opt_out_field not in OPT_OUT_FIELDS:
            raise ConfigurationError(
                f"{OPT_OUT_FIELD_VARIABLE} must be one of {', '.join(OPT_OUT_FIELDS)}, not {opt_out_field!r}"
            )
        self._client = client
        self.bus_name = bus_name
        self.studio = studio
        self.publish = publish
        self.opt_out_field = opt_out_field
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._sleep = sleep
        self._stream = log_stream

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> StatusEventPublisher:
        missing = [name for name in (EVENT_BUS_VARIABLE, STUDIO_VARIABLE) if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"the environment does not say where to publish: set {' and '.join(missing)}")
        return cls(
            client or boto3.client("events", config=Config(**CLIENT_OPTIONS)),
            environ[EVENT_BUS_VARIABLE],
            environ[STUDIO_VARIABLE],
            environ.get(PUBLISH_VARIABLE, STATUS_CHANGES),
            environ.get(OPT_OUT_FIELD_VARIABLE, DEFAULT_OPT_OUT_FIELD),
        )

    def handle(self, event: dict, context=None) -> dict:
        """Publish one Lambda DynamoDB stream event; returns {"batchItemFailures": [...]} (at most one)."""
        records = event.get("Records", [])
        changes: list[Change] = []
        unreadable = None
        for record in records:
            try:
                change = change_event(
                    record,
                    studio=self.studio,
                    bus_name=self.bus_name,
                    publish=self.publish,
                    opt_out_field=self.opt_out_field,
                )
            except Exception as error:  # a defect here must not skip the record: stop and report it
                unreadable = record
                self._log("ERROR", "record_unreadable", sequenceNumber=_sequence_number(record),
                          error=f"{type(error).__name__}: {error}")
                break
            if change is not None:
                changes.append(change)
        published = 0
        failed_at = _sequence_number(unreadable) if unreadable else None
        for batch in calls(changes):
            published += len(batch)
            failures = self._put(batch, context)
            if failures:
                published -= len(failures)
                failed_at = failures[0].sequence_number  # the earliest: calls keep the stream's order
                break
        self._log(
            "INFO",
            "events_published",
            Records=len(records),
            Changes=len(changes),
            Published=published,
            requestId=getattr(context, "aws_request_id", None),
            **({"RetryFrom": failed_at} if failed_at else {}),
        )
        return {"batchItemFailures": [{"itemIdentifier": failed_at}] if failed_at else []}

    def _put(self, batch: list[Change], context=None) -> list[Change]:
        """PutEvents `batch`, retrying only the failed entries; the changes that still failed, in order."""
        remaining = batch
        errors: dict[str, str] = {change.event_id: "no time left before the function's timeout" for change in batch}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            if _seconds_left(context) < CALL_BUDGET_SECONDS:
                break
            try:
                response = self._client.put_events(Entries=[change.entry for change in remaining])
            except (ClientError, BotoCoreError) as error:  # after the client's own retries
                errors = {change.event_id: f"{type(error).__name__}: {error}" for change in remaining}
                continue
            results = response.get("Entries", [])
            errors = {
                change.event_id: f"{result.get('ErrorCode')}: {result.get('ErrorMessage', '')}"
                for change, result in zip(remaining, results, strict=True)
                if result.get("ErrorCode")
            }
            remaining = [change for change in remaining if change.event_id in errors]
            if not remaining:
                return []
        for change in remaining:
            self._log("ERROR", "publish_failed", eventId=change.event_id, sequenceNumber=change.sequence_number,
                      error=errors.get(change.event_id, ""))
        return remaining

    def _log(self, level: str, event: str, **fields) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"level": level, "event": event, **fields}, separators=(",", ":"), default=str) + "\n")
        stream.flush()


def _sequence_number(record: dict) -> str:
    return record["dynamodb"]["SequenceNumber"]


def _seconds_left(context) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float("inf") if remaining is None else remaining() / 1000
