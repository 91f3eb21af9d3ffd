"""The failing-worker check on local engines: its state on DynamoDB Local (the stack's table),
its events on moto's EventBridge, delivered by a rule to an SQS queue where the test reads them.

The counting rule: each distinct failure counted once (duplicates, Lambda's retries, concurrent
invocations), stale failures counted by their Timestamps, the window's boundary, re-alerts.
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from collections import Counter

import pytest

from farm_health import WORKER_FAILING_TYPE
from farm_health.monitor import FarmHealthMonitor
from farm_health.state import WorkerFailureStore
from farm_health.window import Rule
from local_pipeline.pipeline import drain
from notification_processor.timestamps import TICKS_PER_SECOND
from status_events.changes import SOURCE
from tests.unit.farm_health_support import START, failure_record, history_image, history_record
from tests.unit.processor_support import job_body
from tests.unit.status_events_support import stored_item

RULE = Rule(jobs=3, minutes=30)
_names = itertools.count()


class Check:
    """A state table, a bus with a rule delivering every event to a queue, and monitors on them."""

    def __init__(self, dynamodb_local, local_sqs, pipeline_spec, job_table: str):
        suffix = next(_names)
        self.dynamodb = dynamodb_local.client()
        spec = pipeline_spec.farm_health
        self.table = f"{spec.state_table.name}-{suffix}"
        self.dynamodb.create_table(**spec.state_table.create_table_kwargs(self.table))
        self.job_table = job_table
        self.sqs, self.events = local_sqs.client(), local_sqs.events_client()
        self.bus = f"farm-health-test-{suffix}"
        self.events.create_event_bus(Name=self.bus)
        self.queue_url = self.sqs.create_queue(QueueName=f"{self.bus}-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.events.put_rule(Name="every", EventBusName=self.bus, EventPattern=json.dumps({"source": [SOURCE]}))
        self.events.put_targets(Rule="every", EventBusName=self.bus, Targets=[{"Id": "q", "Arn": queue_arn}])

    def monitor(self, dynamodb=None) -> FarmHealthMonitor:
        return FarmHealthMonitor(
            dynamodb or self.dynamodb, self.events, state_table=self.table, job_table=self.job_table,
            bus_name=self.bus, studio="default", rule=RULE, log_stream=io.StringIO(),
        )  # fmt: skip

    def handle(self, records: list[dict]) -> dict:
        return self.monitor().handle({"Records": records})

    def delivered(self) -> list[dict]:
        events = [json.loads(body) for body in drain(self.sqs, self.queue_url)]
        assert all(event["detail-type"] == WORKER_FAILING_TYPE for event in events)
        return [event["detail"] for event in events]

    def failed(self, worker: str = "render007") -> int:
        return WorkerFailureStore(self.dynamodb, self.table).load(worker)[0].failed


@pytest.fixture
def check(dynamodb_local, local_sqs, pipeline_spec, local_tables):
    found = Check(dynamodb_local, local_sqs, pipeline_spec, local_tables.job_table)
    yield found
    found.dynamodb.delete_table(TableName=found.table)


def test_duplicates_and_retries_count_once_and_alert_once(check, documented_task_message):
    t = documented_task_message
    records = [failure_record(t, "job-a", 1, 0), failure_record(t, "job-b", 1, 5), failure_record(t, "job-c", 1, 10)]
    # The stream's at-least-once delivery: a record twice in a batch, then the whole batch again (a retry).
    assert check.handle([records[0], records[0], *records[1:]]) == {"batchItemFailures": []}
    assert check.handle(records) == {"batchItemFailures": []}
    (detail,) = check.delivered()
    assert check.failed() == 3
    assert detail["failedTasks"] == 3 and [job["jobId"] for job in detail["jobs"]] == ["job-a", "job-b", "job-c"]


def test_a_stale_failure_counts_by_its_timestamp(check, documented_task_message):
    t = documented_task_message
    check.handle([failure_record(t, "job-b", 1, 10), failure_record(t, "job-c", 1, 40)])
    assert check.delivered() == []
    # Reported after newer failures, it happened first: still only two jobs in any 30 minutes.
    check.handle([failure_record(t, "job-a", 1, 9)])
    assert check.delivered() == []
    check.handle([failure_record(t, "job-d", 1, 15)])  # stale again: job-a, job-b, job-d within 6 minutes
    (detail,) = check.delivered()
    assert {job["jobId"] for job in detail["jobs"]} == {"job-a", "job-b", "job-d"}
    assert check.failed() == 4


def test_two_concurrent_invocations_count_each_failure_once(dynamodb_local, check, documented_task_message):
    t = documented_task_message
    records = [failure_record(t, f"job-{n % 4}", n, n * 0.5) for n in range(24)]
    barrier = threading.Barrier(2)
    answers = []

    def invoke(batch):
        monitor = check.monitor(dynamodb_local.client())  # each invocation its own client, as each container's
        barrier.wait(timeout=60)
        answers.append(monitor.handle({"Records": batch}))

    # The same batch twice at once (a retry racing its first delivery), plus each half alone.
    batches = [records, records, records[:12], records[12:]]
    for pair in (batches[:2], batches[2:]):
        threads = [threading.Thread(target=invoke, args=(batch,)) for batch in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert answers == [{"batchItemFailures": []}] * 4
    assert check.failed() == 24
    delivered = check.delivered()
    assert len({detail["eventId"] for detail in delivered}) == 1  # one alert; a racing retry may repeat its put
    assert delivered[0]["failedTasks"] >= 3


def test_failures_exactly_the_window_apart_are_in_one_window_one_tick_more_are_not(check, documented_task_message):
    t = documented_task_message
    tick = 1 / (60 * TICKS_PER_SECOND)  # minutes
    check.handle([failure_record(t, "job-a", 1, 0, "render001"), failure_record(t, "job-b", 1, 10, "render001"),
                  failure_record(t, "job-c", 1, 30, "render001")])  # fmt: skip
    check.handle([failure_record(t, "job-a", 1, 0, "render002"), failure_record(t, "job-b", 1, 10, "render002"),
                  failure_record(t, "job-c", 1, 30 + tick, "render002")])  # fmt: skip
    assert [detail["workerName"] for detail in check.delivered()] == ["render001"]


def test_a_worker_that_keeps_failing_alerts_again_after_a_full_window(check, documented_task_message):
    t = documented_task_message
    records = [failure_record(t, f"job-{n % 3}", n, 5 * n) for n in range(13)]  # every 5 minutes for an hour
    for record in records:  # one per invocation, as a quiet stream delivers them
        check.handle([record])
    delivered = check.delivered()
    assert [detail["lastFailure"][11:16] for detail in delivered] == ["00:10", "00:40"]
    assert len({detail["eventId"] for detail in delivered}) == 2


def test_job_names_come_from_the_job_table_where_the_job_has_arrived_else_the_job_id(
    check, documented_task_message, documented_job_message
):
    body = job_body(documented_job_message, "job-b", START, "Failed")
    body["JobDetails"]["JobName"] = "sq010_sh0020_lighting"
    check.dynamodb.put_item(TableName=check.job_table, Item=stored_item(body))
    t = documented_task_message
    check.handle([failure_record(t, "job-a", 1, 0), failure_record(t, "job-b", 1, 1), failure_record(t, "job-c", 1, 2)])
    (detail,) = check.delivered()
    assert [job["jobName"] for job in detail["jobs"]] == ["job-a", "sq010_sh0020_lighting", "job-c"]


def test_records_that_are_no_failure_are_skipped(check, documented_task_message):
    t = documented_task_message
    completed = [history_record(history_image(t, f"job-{n}", 1, START + n, "render007", status="Completed")) for n in range(3)]
    assert check.handle(completed) == {"batchItemFailures": []}
    assert check.delivered() == [] and check.failed() == 0


def test_a_put_that_fails_is_reported_and_its_retry_puts_the_alert_once(check, documented_task_message):
    t = documented_task_message
    records = [failure_record(t, "job-a", 1, 0), failure_record(t, "job-b", 1, 1), failure_record(t, "job-c", 1, 2)]
    broken = check.monitor()
    broken.bus_name = "no-such-bus"
    answer = broken.handle({"Records": records})
    assert answer == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert check.delivered() == []
    assert check.handle(records[2:]) == {"batchItemFailures": []}  # Lambda's retry, from the failed record
    assert check.handle(records[2:]) == {"batchItemFailures": []}  # and once more: settled, nothing to put
    delivered = check.delivered()
    assert Counter(detail["eventId"] for detail in delivered).most_common() == [(delivered[0]["eventId"], 1)]
    assert check.failed() == 3
