"""A generated stream, delivered to a handler the way Lambda's SQS event source would.

The queue is simulated in memory, so that nothing but the handler is timed: batches
of up to `batch_size` in queue order; what the handler reports failed (read as Lambda
reads it, local_pipeline.event_source) comes back later with its receive count raised,
until the count reaches the queue's maxReceiveCount and the message goes to the
dead-letter queue instead. Records and context are the local event source's own.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from local_pipeline.engines import LOCAL_REGION
from local_pipeline.event_source import LambdaContext, failed_message_ids, lambda_sqs_record
from local_pipeline.generator import Message

# ReceiveMessage and DeleteMessageBatch take at most 10 messages a request.
SQS_MESSAGES_PER_REQUEST = 10
QUEUE_ARN = f"arn:aws:sqs:{LOCAL_REGION}:000000000000:bench-notifications"
# SentTimestamp of the first message (ms); the rest follow 1 ms apart in send order. A week
# after the generated farm starts (local_pipeline.farm.EPOCH): after every Timestamp in it,
# as SQS receives a notification after Deadline stamps it.
FIRST_SENT_MS = 1_710_165_600_000


@dataclass
class QueuedMessage:
    message_id: str
    body: str
    sent_timestamp: int
    invalid: str | None
    receive_count: int = 0

    def lambda_record(self) -> dict:
        """The record Lambda's SQS event source would pass for this receive."""
        received = {
            "MessageId": self.message_id,
            "ReceiptHandle": f"{self.message_id}#{self.receive_count}",
            "Body": self.body,
            "Attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": str(self.sent_timestamp),
                "SenderId": "AIDAEXAMPLEDEADLINERCS",
                "ApproximateFirstReceiveTimestamp": str(self.sent_timestamp + 1000),
            },
            "MD5OfBody": hashlib.md5(self.body.encode(), usedforsecurity=False).hexdigest(),
        }
        return lambda_sqs_record(received, QUEUE_ARN)


def queue_messages(messages: list[Message], seed: int) -> list[QueuedMessage]:
    """The generated messages as sent to the queue: distinct, reproducible ids; SentTimestamp in send order."""
    namespace = uuid.UUID(int=seed)
    return [
        QueuedMessage(str(uuid.uuid5(namespace, str(index))), message.body, FIRST_SENT_MS + index, message.invalid)
        for index, message in enumerate(messages)
    ]


@dataclass
class ReplayOutcome:
    invocations: int = 0
    records_delivered: int = 0
    handler_seconds: float = 0.0
    handler_cpu_seconds: float = 0.0  # this process's CPU (all its threads) while the handler ran
    billed_ms: int = 0  # Lambda bills each invocation's duration rounded up to the millisecond
    handler_exceptions: int = 0
    sqs_receive_requests: int = 0
    sqs_delete_requests: int = 0
    acknowledged: list[QueuedMessage] = field(default_factory=list)
    dead_lettered: list[QueuedMessage] = field(default_factory=list)


def replay(handle, messages: list[QueuedMessage], batch_size: int, max_receive_count: int,
           function_timeout: float) -> ReplayOutcome:
    """Deliver `messages` to `handle(event, context) -> {"batchItemFailures": [...]}` until the queue is empty."""
    outcome = ReplayOutcome()
    queue = deque(messages)
    while queue:
        batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
        for message in batch:
            message.receive_count += 1
        event = {"Records": [message.lambda_record() for message in batch]}
        context = LambdaContext("bench", LOCAL_REGION, function_timeout)
        batch_ids = [message.message_id for message in batch]
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            response, raised = handle(event, context), False
        except Exception:
            response, raised = None, True
        elapsed = time.perf_counter() - started
        outcome.handler_cpu_seconds += time.process_time() - cpu_started
        outcome.handler_exceptions += raised
        failed = set(batch_ids) if raised else failed_message_ids(response, batch_ids)  # Lambda's reading
        outcome.invocations += 1
        outcome.records_delivered += len(batch)
        outcome.handler_seconds += elapsed
        outcome.billed_ms += math.ceil(elapsed * 1000)
        outcome.sqs_receive_requests += math.ceil(len(batch) / SQS_MESSAGES_PER_REQUEST)
        acknowledged = [message for message in batch if message.message_id not in failed]
        outcome.sqs_delete_requests += math.ceil(len(acknowledged) / SQS_MESSAGES_PER_REQUEST)
        outcome.acknowledged.extend(acknowledged)
        for message in batch:
            if message.message_id not in failed:
                continue
            if message.receive_count >= max_receive_count:
                outcome.dead_lettered.append(message)
            else:
                queue.append(message)  # visible again after the visibility timeout
    return outcome

