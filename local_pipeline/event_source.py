"""A local stand-in for Lambda's SQS event source mapping.

Each poller does what the mapping does for one concurrent invocation: receive up
to the batch size (gathering for the batching window), invoke the handler with a
Lambda SQS event, delete the messages that succeeded, and leave the rest on the
queue. Left messages reappear after the visibility timeout, and the queue's redrive
policy moves a message to the DLQ once it has been received maxReceiveCount times.

moto's SQS backend is not thread-safe (concurrent receives corrupt its queues),
so the pollers of one event source take turns calling SQS and short-poll (a long
poll would hold the turn); the handler invocations themselves run concurrently.

Response handling follows ReportBatchItemFailures: a handler that raises, returns
an itemIdentifier that is empty or not in the batch, or returns something that is
not a response fails the whole batch; otherwise only the listed messages fail.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Self

from deadline_sqs.sending import SQS_BATCH_ENTRIES

LOG = logging.getLogger(__name__)

EMPTY_RECEIVE_PAUSE = 0.1  # seconds a poller waits after finding the queue empty


@dataclass
class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    function_name: str
    region: str
    timeout_seconds: float
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    account: str = "123456789012"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: None = None
    client_context: None = None

    def __post_init__(self):
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        return f"{day}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _message_attribute(value: dict) -> dict:
    """An SQS API message attribute as Lambda's event shows it (camelCase, binary as base64)."""
    attribute = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    attribute["stringListValues"] = value.get("StringListValues", [])
    attribute["binaryListValues"] = [base64.b64encode(item).decode() for item in value.get("BinaryListValues", [])]
    attribute["dataType"] = value["DataType"]
    return attribute


def lambda_sqs_record(message: dict, queue_arn: str) -> dict:
    """One ReceiveMessage result as a record of Lambda's SQS event."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(response, message_ids: list[str], report_batch_item_failures: bool = True) -> set[str]:
    """Which messages of the batch failed, reading the handler's response as Lambda does."""
    if not report_batch_item_failures or response is None:
        return set()
    if not isinstance(response, dict):
        return set(message_ids)
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(message_ids)
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            return set(message_ids)  # an invalid response fails the whole batch
        failed.add(identifier)
    return failed


class Pollers:
    """Threads that each run `_run(*args)` until stopped, one per `_poller_args()` entry; as a
    context manager, started on entry and stopped (and joined) on exit."""

    thread_name = "poller"

    def __init__(self):
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _poller_args(self) -> list[tuple]:
        raise NotImplementedError

    def _run(self, *args) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=args, name=f"{self.thread_name}-{n}", daemon=True)
            for n, args in enumerate(self._poller_args())
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


@dataclass(frozen=True)
class BatchOutcome:
    records: list[dict]
    failed: set[str]  # message ids left on the queue
    error: BaseException | None = None  # what the handler raised, if it did


class SqsEventSource(Pollers):
    """Pollers invoking `handler(event, context)` for messages of one queue."""

    thread_name = "sqs-poller"

    def __init__(
        self,
        sqs,
        queue_url: str,
        queue_arn: str,
        handler: Callable,
        *,
        batch_size: int = 10,
        batching_window: float = 0,
        pollers: int = 1,
        report_batch_item_failures: bool = True,
        function_name: str = "local",
        timeout_seconds: float = 30,
    ):
        super().__init__()
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.batch_size = batch_size
        self.batching_window = batching_window
        self.pollers = pollers
        self.report_batch_item_failures = report_batch_item_failures
        self.function_name = function_name
        self.timeout_seconds = timeout_seconds
        self.poller_errors: list[BaseException] = []
        self._sqs_turn = threading.Lock()

    def _poller_args(self) -> list[tuple]:
        return [()] * self.pollers

    def _receive(self, count: int) -> list[dict]:
        with self._sqs_turn:
            return self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])

    def _gather(self) -> list[dict]:
        """Up to batch_size messages: more are received until the batch is full or the batching window ends."""
        messages = self._receive(min(SQS_BATCH_ENTRIES, self.batch_size))
        window_ends = time.monotonic() + self.batching_window
        while messages and len(messages) < self.batch_size and not self._stop.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                break
            more = self._receive(min(SQS_BATCH_ENTRIES, self.batch_size - len(messages)))
            if not more:
                self._stop.wait(min(remaining, EMPTY_RECEIVE_PAUSE))
            messages.extend(more)
        return messages

    def poll_once(self) -> BatchOutcome | None:
        """One invocation: gather, invoke, delete what succeeded. None when the queue had nothing."""
        messages = self._gather()
        if not messages:
            self._stop.wait(EMPTY_RECEIVE_PAUSE)
            return None
        records = [lambda_sqs_record(message, self.queue_arn) for message in messages]
        ids = [record["messageId"] for record in records]
        context = LambdaContext(self.function_name, records[0]["awsRegion"], self.timeout_seconds)
        try:
            response = self.handler({"Records": records}, context)
            outcome = BatchOutcome(records, failed_message_ids(response, ids, self.report_batch_item_failures))
        except Exception as error:  # a raising function fails its whole batch, as on Lambda
            LOG.warning("handler raised %s: the whole batch of %d reappears", type(error).__name__, len(records))
            outcome = BatchOutcome(records, set(ids), error)
        self._delete([record for record in records if record["messageId"] not in outcome.failed])
        return outcome

    def _delete(self, records: list[dict]) -> None:
        for start in range(0, len(records), SQS_BATCH_ENTRIES):
            chunk = records[start : start + SQS_BATCH_ENTRIES]
            with self._sqs_turn:
                response = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": record["receiptHandle"]} for n, record in enumerate(chunk)],
                )
            for failure in response.get("Failed", []):
                # The message comes back and is processed again: harmless for an idempotent handler.
                LOG.warning("could not delete a processed message: %s", failure.get("Message"))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:  # SQS unreachable, say: keep the error, back off, try again
                self.poller_errors.append(error)
                self._stop.wait(0.5)
