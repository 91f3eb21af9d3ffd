"""Whatever SQS does to a stream (duplicates, any order, any batching, concurrent
invocations), the tables end up holding the newest notification of every key."""

from __future__ import annotations

import random
import threading
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notification_processor.notifications import ORDER_ATTRIBUTE, parse_record
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    failed_ids,
    job_body,
    logged_processor,
    newest_items,
    processor_client,
    sqs_event,
    sqs_record,
    stored_items,
    task_body,
)

T0 = DOCUMENTED_TASK_TICKS
STATUSES = ["Queued", "Rendering", "Completed", "Failed", "Suspended"]


def without_sent_timestamp(items: dict) -> dict:
    return {key: {name: value for name, value in item.items() if name != "sent_timestamp"} for key, item in items.items()}


def of_this_run(items: dict, job_prefix: str) -> dict:
    return {key: item for key, item in items.items() if key[1][0].startswith(job_prefix)}


def versions_of(template_job: dict, template_task: dict, key: tuple, versions: list[tuple[int, str]]) -> list[dict]:
    """SQS records for one key's notifications, each (tick offset, status)."""
    if len(key) == 1:
        return [sqs_record(job_body(template_job, key[0], T0 + ticks, status)) for ticks, status in versions]
    return [sqs_record(task_body(template_task, *key, T0 + ticks, status)) for ticks, status in versions]


def resent(record: dict) -> dict:
    """The same body in a new SQS message (Deadline sending it twice): new id and SentTimestamp."""
    return sqs_record(record["body"])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_duplication_order_and_batching_leaves_the_newest_per_key(
    dynamodb_local, local_tables, documented_job_message, documented_task_message, data
):
    processor, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    prefix = uuid.uuid4().hex[:8]
    jobs = [f"{prefix}-{number}" for number in range(data.draw(st.integers(1, 2)))]
    keys = [(job,) for job in jobs] + [(job, task) for job in jobs for task in range(data.draw(st.integers(0, 2)))]
    # Few distinct tick offsets, so equal Timestamps (ties) are common.
    versions = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(STATUSES)), min_size=1, max_size=3, unique=True)
    records = [
        record
        for key in keys
        for record in versions_of(documented_job_message, documented_task_message, key, data.draw(versions))
    ]
    copies = data.draw(st.lists(st.sampled_from(records), max_size=len(records)))
    resends = [resent(record) for record in data.draw(st.lists(st.sampled_from(records), max_size=3))]
    deliveries = data.draw(st.permutations(records + copies + resends))

    start = 0
    while start < len(deliveries):
        size = data.draw(st.integers(1, 10), label="batch size")
        assert failed_ids(processor.handle(sqs_event(deliveries[start:start + size]))) == []
        start += size

    stored = of_this_run(stored_items(local_tables), prefix)
    delivered = records + resends
    assert without_sent_timestamp(stored) == without_sent_timestamp(newest_items(delivered))
    # Of a body sent twice, the table keeps one delivery's SentTimestamp, as if it was sent once.
    for (kind, key), item in stored.items():
        order = int(item[ORDER_ATTRIBUTE]["N"])
        sent = set()
        for record in delivered:
            notification = parse_record(record)
            if (notification.kind, notification.key, notification.order) == (kind, key, order):
                sent.add(record["attributes"]["SentTimestamp"])
        assert item["sent_timestamp"]["N"] in sent


def test_concurrent_invocations_on_the_same_keys_keep_the_newest(
    dynamodb_local, local_tables, documented_job_message, documented_task_message
):
    invocations = 2
    processors = [logged_processor(processor_client(dynamodb_local), local_tables)[0] for _ in range(invocations)]

    for round_number in range(2):
        job = f"round-{round_number}"
        records = [
            record
            for key in [(job,)] + [(job, task) for task in range(3)]
            for record in versions_of(
                documented_job_message, documented_task_message, key,
                [(ticks, STATUSES[ticks % len(STATUSES)]) for ticks in range(8)],
            )
        ]
        # Every record twice, shuffled, in batches of 4 handed out in turn: both invocations
        # write the same keys at the same time, old and new versions mixed.
        stream = records * 2
        random.Random(round_number).shuffle(stream)
        batches = [stream[start:start + 4] for start in range(0, len(stream), 4)]
        start_together = threading.Barrier(invocations)
        failures = []

        def invoke(number):
            start_together.wait()
            for batch in batches[number::invocations]:
                failures.extend(failed_ids(processors[number].handle(sqs_event(batch))))

        threads = [threading.Thread(target=invoke, args=(number,)) for number in range(invocations)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        assert of_this_run(stored_items(local_tables), job) == newest_items(records)
