"""Issue 3's acceptance replay: generated farm traffic through the processor, as SQS would deliver it.

30 % duplicates, heavy reordering and bad records of every kind, at batch sizes 10 and
100, with the redrive limit the stack configures. Afterwards every job and task holds
its newest notification, no good notification is in the dead-letter queue, and every
bad one is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pytest

from local_pipeline.generator import MALFORMED_KINDS, TrafficSettings, generate
from notification_processor.notifications import JOB, TASK
from tests.unit.processor_support import (
    SENT_BASE_MS,
    failed_ids,
    logged_processor,
    processor_client,
    sqs_event,
    sqs_record,
    stored_items,
)

TRAFFIC = TrafficSettings(seed=3, jobs=6, tasks_per_job=10, duplicate_rate=0.3, reorder_window=100, malformed_per_kind=2)


@dataclass
class QueuedMessage:
    message_id: str
    body: str
    sent_ms: int
    receives: int = 0


def replay(processor, messages: list[QueuedMessage], batch_size: int, max_receive_count: int) -> list[QueuedMessage]:
    """Deliver `messages` in order, in batches; a failed message is received again later,
    and moves to the dead-letter queue (returned) after `max_receive_count` receives."""
    queue, dead_letters = deque(messages), []
    while queue:
        batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
        records = [sqs_record(message.body, message.message_id, message.sent_ms) for message in batch]
        failed = set(failed_ids(processor.handle(sqs_event(records))))
        for message in batch:
            message.receives += 1
            if message.message_id in failed:
                (dead_letters if message.receives >= max_receive_count else queue).append(message)
    return dead_letters


@pytest.fixture(scope="module")
def traffic():
    return generate(TRAFFIC)


@pytest.mark.parametrize("batch_size", [10, 100])
def test_generated_traffic_ends_with_every_job_and_task_correct(
    dynamodb_local, local_tables, pipeline_spec, traffic, batch_size
):
    processor, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    # A duplicate is the same SQS message delivered again: same message id, same SentTimestamp.
    sent = {}
    for message in traffic.messages:
        sent.setdefault(id(message), (f"message-{len(sent)}", SENT_BASE_MS + len(sent)))
    queued = [QueuedMessage(sent[id(message)][0], message.body, sent[id(message)][1]) for message in traffic.messages]
    assert traffic.duplicates > 0.25 * traffic.notifications
    assert {message.invalid for message in traffic.malformed} == set(MALFORMED_KINDS)

    dead_letters = replay(processor, queued, batch_size, pipeline_spec.max_receive_count)

    bad_ids = {sent[id(message)][0] for message in traffic.malformed}
    assert {message.message_id for message in dead_letters} == bad_ids
    assert len(dead_letters) == len(traffic.malformed)  # each once, however often it was duplicated

    items = stored_items(local_tables)
    assert set(items) == {(JOB, (job,)) for job in traffic.truth.jobs} | {(TASK, key) for key in traffic.truth.tasks}
    for (kind, key), item in items.items():
        truth = traffic.truth.jobs[key[0]] if kind == JOB else traffic.truth.tasks[key]
        details = item["job_details" if kind == JOB else "task_details"]["M"]
        status = details["JobStatus" if kind == JOB else "Status"]["S"]
        assert (item["timestamp"]["S"], status, item["task_type"]["S"]) == (
            truth.timestamp, truth.status, truth.notification
        ), key
