"""The local event source against local SQS: redelivery, the DLQ after maxReceiveCount, concurrency."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time

import pytest

from deadline_sqs.sending import queue_arn, queue_depth
from local_pipeline.event_source import SqsEventSource

MAX_RECEIVE_COUNT = 3
VISIBILITY_TIMEOUT = 3
BOUND = 120  # seconds a condition may take: generous, for a loaded machine
_names = itertools.count()


@pytest.fixture
def queues(local_sqs):
    """A queue with a 3 s visibility timeout whose redrive policy moves a message to a DLQ after 3 receives.

    3 s: a message the handler succeeded on is deleted before it reappears even when a loaded machine
    holds the poller up that long between receiving and deleting it."""
    sqs = local_sqs.client()
    suffix = next(_names)
    dlq_url = sqs.create_queue(QueueName=f"events-dlq-{suffix}")["QueueUrl"]
    redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": MAX_RECEIVE_COUNT}
    queue_url = sqs.create_queue(
        QueueName=f"events-{suffix}", Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT), "RedrivePolicy": json.dumps(redrive)}
    )["QueueUrl"]
    return sqs, queue_url, queue_arn(sqs, queue_url), dlq_url


def _count(sqs, queue_url: str, attribute: str = "ApproximateNumberOfMessages") -> int:
    return int(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[attribute])["Attributes"][attribute])


def _wait_for(condition, timeout: float = BOUND) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _send(sqs, queue_url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies[start : start + 10])],
        )


class RecordingHandler:
    """Remembers every record it was given; fails the records whose body is in `poison`."""

    def __init__(self, poison=(), raise_first: bool = False):
        self.poison = set(poison)
        self.raise_first = raise_first
        self.records: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, event, context):
        with self.lock:
            first = not self.records
            self.records.extend(event["Records"])
        if self.raise_first and first:
            raise RuntimeError("the first invocation fails")
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in self.poison]}

    def receives(self, body: str) -> list[int]:
        with self.lock:
            return [int(r["attributes"]["ApproximateReceiveCount"]) for r in self.records if r["body"] == body]


def test_events_are_lambda_sqs_events_of_the_received_messages(queues):
    sqs, queue_url, arn, _ = queues
    _send(sqs, queue_url, ["one"])
    handler = RecordingHandler()
    source = SqsEventSource(sqs, queue_url, arn, handler, batch_size=10)
    _wait_for(lambda: source.poll_once() is not None)
    (record,) = handler.records
    assert record["body"] == "one"
    assert record["md5OfBody"] == hashlib.md5(b"one").hexdigest()
    assert record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert int(record["attributes"]["SentTimestamp"]) > 0
    assert queue_depth(sqs, queue_url) == 0  # deleted after success


def test_a_reported_failure_reappears_until_the_redrive_policy_moves_it_to_the_dlq(queues):
    sqs, queue_url, arn, dlq_url = queues
    bodies = [f"good-{n}" for n in range(12)] + ["poison"]
    _send(sqs, queue_url, bodies)
    handler = RecordingHandler(poison={"poison"})
    with SqsEventSource(sqs, queue_url, arn, handler, batch_size=10, pollers=2):
        _wait_for(lambda: _count(sqs, dlq_url) == 1 and queue_depth(sqs, queue_url) == 0)
    assert handler.receives("poison") == list(range(1, MAX_RECEIVE_COUNT + 1))
    assert all(handler.receives(body) == [1] for body in bodies[:-1])
    (dead,) = sqs.receive_message(QueueUrl=dlq_url, VisibilityTimeout=0)["Messages"]
    assert dead["Body"] == "poison"


def test_a_handler_that_raises_fails_its_whole_batch(queues):
    sqs, queue_url, arn, dlq_url = queues
    bodies = [f"message-{n}" for n in range(5)]
    _send(sqs, queue_url, bodies)
    handler = RecordingHandler(raise_first=True)
    source = SqsEventSource(sqs, queue_url, arn, handler, batch_size=10)
    _wait_for(lambda: source.poll_once() is not None)
    first_batch = [record["body"] for record in handler.records]
    assert first_batch and queue_depth(sqs, queue_url) == len(bodies)  # nothing was deleted
    _wait_for(lambda: (source.poll_once(), queue_depth(sqs, queue_url) == 0)[1])
    for body in first_batch:
        assert handler.receives(body) == [1, 2]
    assert _count(sqs, dlq_url) == 0


def test_pollers_invoke_the_handler_concurrently(queues):
    sqs, queue_url, arn, _ = queues
    _send(sqs, queue_url, [f"message-{n}" for n in range(20)])
    # Two invocations must be inside the handler at once to pass the barrier; one alone would time out.
    barrier = threading.Barrier(2, timeout=BOUND)
    passed = []

    def handler(event, context):
        barrier.wait()
        passed.append(len(event["Records"]))
        return {"batchItemFailures": []}

    with SqsEventSource(sqs, queue_url, arn, handler, batch_size=5, pollers=2) as source:
        _wait_for(lambda: len(passed) >= 2)
        barrier.abort()  # release a third invocation waiting for a partner, so the pollers stop at once
    assert not source.poller_errors
    assert all(size <= 5 for size in passed)


def test_batches_gather_across_receives_up_to_the_batch_size(queues):
    sqs, queue_url, arn, _ = queues
    _send(sqs, queue_url, [f"message-{n}" for n in range(25)])
    sizes = []
    source = SqsEventSource(
        sqs, queue_url, arn, lambda event, context: sizes.append(len(event["Records"])), batch_size=25, batching_window=5
    )
    _wait_for(lambda: source.poll_once() is not None)
    # ReceiveMessage returns at most 10: a batch of 25 takes several receives within the window.
    assert sizes == [25]
