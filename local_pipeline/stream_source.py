"""A local stand-in for Lambda's DynamoDB stream event source mapping, on DynamoDB Local's streams.

One poller per stream does what the mapping does for it: read each shard from its
start (TRIM_HORIZON; a child shard only after its parent is read to its end), in
batches of up to the batch size, invoke the handler with a Lambda DynamoDB stream
event, and act on its answer as ReportBatchItemFailures says: a reported sequence
number means "done up to there": the batch is delivered again from that record, at
most `retry_attempts` times, then described to `on_failure` (as Lambda describes it
to an on-failure destination) and skipped. A handler that raises, or reports an
identifier not in the batch, fails the whole batch. Lambda also bisects a batch whose
invocation raised; this stand-in retries it whole.

`wait_until_idle(since)` returns once every poller has read all its shards, without
finding a record, in a round that began after `since`: everything stored before
`since` has then been handed to the handler.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from local_pipeline.event_source import LambdaContext, Pollers

LOG = logging.getLogger(__name__)

EMPTY_ROUND_PAUSE = 0.1  # seconds a poller waits after a round that found no record


def _lambda_value(value: dict) -> dict:
    """An AttributeValue from boto3 (binary as bytes) as Lambda's JSON event shows it (base64).

    DynamoDB Local's streams write an empty map as `{}` (DynamoDB writes `{"M": {}}`); it is
    written back as DynamoDB does.
    """
    if not value:
        return {"M": {}}
    ((kind, content),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(content).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(element).decode() for element in content]}
    if kind == "M":
        return {"M": {name: _lambda_value(element) for name, element in content.items()}}
    if kind == "L":
        return {"L": [_lambda_value(element) for element in content]}
    return value


def lambda_stream_record(record: dict, stream_arn: str, region: str) -> dict:
    """One GetRecords record as a record of Lambda's DynamoDB stream event."""
    stream = dict(record["dynamodb"])
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    for image in ("Keys", "NewImage", "OldImage"):
        if image in stream:
            stream[image] = {name: _lambda_value(value) for name, value in stream[image].items()}
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }


def first_failed_index(response, sequence_numbers: list[str], report_batch_item_failures: bool = True) -> int | None:
    """Where the batch must be delivered again from (None: all done), reading the response as Lambda does."""
    if not report_batch_item_failures or response is None:
        return None
    failures = response.get("batchItemFailures") if isinstance(response, dict) else "invalid"
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    positions = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in sequence_numbers:
            return 0  # an invalid response fails the whole batch
        positions.append(sequence_numbers.index(identifier))
    return min(positions)


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    finished: bool = False


@dataclass
class StreamStats:
    records: int = 0  # records handed to the handler, redeliveries included
    invocations: int = 0
    handler_seconds: float = 0.0
    billed_ms: int = 0  # each invocation's time rounded up to the millisecond, as Lambda bills it
    given_up: int = 0  # batches described to on_failure
    errors: int = 0  # what the pollers hit (reading a stream, say), and the last of it
    last_error: BaseException | None = None


class StreamEventSource(Pollers):
    """Pollers invoking `handler(event, context)` with the records of DynamoDB streams, one per stream."""

    thread_name = "stream-poller"

    def __init__(
        self,
        streams,
        stream_arns: list[str],
        handler: Callable,
        *,
        batch_size: int = 100,
        retry_attempts: int = 2,
        report_batch_item_failures: bool = True,
        on_failure: Callable[[dict], None] | None = None,
        function_name: str = "local-publisher",
        timeout_seconds: float = 30,
        region: str = "us-east-1",
    ):
        super().__init__()
        self.streams = streams
        self.stream_arns = stream_arns
        self.handler = handler
        self.batch_size = batch_size
        self.retry_attempts = retry_attempts
        self.report_batch_item_failures = report_batch_item_failures
        self.on_failure = on_failure
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.region = region
        self.stats = StreamStats()
        self._stats_lock = threading.Lock()
        self._idle_round_began: dict[str, float] = {}
        self._idle = threading.Condition()

    def _poller_args(self) -> list[tuple]:
        return [(arn,) for arn in self.stream_arns]

    # --- one stream ---------------------------------------------------------------------------

    def _shards(self, stream_arn: str, known: dict[str, _Shard]) -> None:
        """Add the stream's shards not yet known (DescribeStream pages through them)."""
        start = None
        while True:
            request = {"StreamArn": stream_arn, **({"ExclusiveStartShardId": start} if start else {})}
            description = self.streams.describe_stream(**request)["StreamDescription"]
            for shard in description.get("Shards", []):
                if shard["ShardId"] not in known:
                    known[shard["ShardId"]] = _Shard(shard["ShardId"], shard.get("ParentShardId"))
            start = description.get("LastEvaluatedShardId")
            if not start:
                return

    def _readable(self, shards: dict[str, _Shard]) -> list[_Shard]:
        """Unfinished shards whose parent, if this stream still has it, is read to its end."""
        return [
            shard
            for shard in shards.values()
            if not shard.finished and (shard.parent_id not in shards or shards[shard.parent_id].finished)
        ]

    def _run(self, stream_arn: str) -> None:
        shards: dict[str, _Shard] = {}
        while not self._stop.is_set():
            round_began = time.monotonic()
            try:
                self._shards(stream_arn, shards)
                found = sum(self._read(stream_arn, shard) for shard in self._readable(shards))
            except Exception as error:  # the engine unreachable, say: keep the error, back off, try again
                with self._stats_lock:
                    self.stats.errors += 1
                    self.stats.last_error = error
                self._stop.wait(0.5)
                continue
            if not found:
                with self._idle:
                    self._idle_round_began[stream_arn] = round_began
                    self._idle.notify_all()
                self._stop.wait(EMPTY_ROUND_PAUSE)

    def _read(self, stream_arn: str, shard: _Shard) -> int:
        """One GetRecords on the shard, its records delivered; how many there were."""
        if shard.iterator is None:
            shard.iterator = self.streams.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        try:
            page = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
        except self.streams.exceptions.TrimmedDataAccessException:
            # DynamoDB Local's TRIM_HORIZON iterator of a shard that had no record yet: take a new one.
            shard.iterator = None
            return 0
        records = page.get("Records", [])
        if records:
            self._deliver(stream_arn, shard.shard_id, [lambda_stream_record(r, stream_arn, self.region) for r in records])
        shard.iterator = page.get("NextShardIterator")
        shard.finished = shard.iterator is None  # a closed shard, read to its end
        return len(records)

    def _deliver(self, stream_arn: str, shard_id: str, records: list[dict]) -> None:
        """Invoke the handler until the batch is done, or give up on the rest after the retries."""
        attempts = 0
        while records:
            attempts += 1
            numbers = [record["dynamodb"]["SequenceNumber"] for record in records]
            context = LambdaContext(self.function_name, self.region, self.timeout_seconds)
            started = time.monotonic()
            try:
                response = self.handler({"Records": records}, context)
                failed_from = first_failed_index(response, numbers, self.report_batch_item_failures)
            except Exception as error:  # a raising function fails its whole batch, as on Lambda
                LOG.warning("publisher raised %s: the batch of %d is delivered again", type(error).__name__, len(records))
                failed_from = 0
            seconds = time.monotonic() - started
            with self._stats_lock:
                self.stats.invocations += 1
                self.stats.records += len(records)
                self.stats.handler_seconds += seconds
                self.stats.billed_ms += math.ceil(seconds * 1000)
            if failed_from is None:
                return
            records = records[failed_from:]
            if attempts > self.retry_attempts:
                self._give_up(stream_arn, shard_id, records, attempts)
                return

    def _give_up(self, stream_arn: str, shard_id: str, records: list[dict], attempts: int) -> None:
        with self._stats_lock:
            self.stats.given_up += 1
        if self.on_failure is None:
            return
        arrivals = [record["dynamodb"].get("ApproximateCreationDateTime", 0) for record in records]
        self.on_failure({
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": datetime.fromtimestamp(min(arrivals), UTC).isoformat(),
                "approximateArrivalOfLastRecord": datetime.fromtimestamp(max(arrivals), UTC).isoformat(),
                "batchSize": len(records),
                "streamArn": stream_arn,
            },
        })

    # --- all streams ----------------------------------------------------------------------------

    def wait_until_idle(self, since: float, timeout: float) -> bool:
        """True once every stream had a round without records that began after `since` (monotonic)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while not all(self._idle_round_began.get(arn, -1.0) > since for arn in self.stream_arns):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not any(thread.is_alive() for thread in self._threads):
                    return False
                self._idle.wait(min(remaining, 0.5))
        return True
