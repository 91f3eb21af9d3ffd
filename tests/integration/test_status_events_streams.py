"""Status-change events end to end on local engines: the processor stores, DynamoDB Local's streams
carry each change, the real publisher puts events on moto's EventBridge, a rule delivers them to SQS.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time

import pytest

from local_pipeline.engines import local_client
from local_pipeline.event_check import published_events
from local_pipeline.pipeline import create_local_bus, drain
from local_pipeline.stream_source import StreamEventSource
from notification_processor.identity import notification_id
from notification_processor.notifications import parse_record
from notification_processor.roles import TASK
from status_events.publisher import StatusEventPublisher
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    job_body,
    logged_processor,
    processor_client,
    sqs_event,
    sqs_record,
    task_body,
)
from tests.unit.status_events_support import documented_lambda_item

T = DOCUMENTED_TASK_TICKS
_names = itertools.count()


@dataclasses.dataclass
class Bus:
    """A local bus with the template's rules, and the queues its events, alerts and failures land in."""

    sqs: object
    events: object
    local: object  # LocalStatusEvents

    def delivered(self) -> list:
        return published_events(drain(self.sqs, self.local.events_queue_url))


@pytest.fixture
def bus(pipeline_spec, local_sqs, local_tables) -> Bus:
    suffix = next(_names)
    spec = pipeline_spec.status_events
    spec = dataclasses.replace(
        spec,
        bus_name=f"{spec.bus_name}-{suffix}",
        failure_queue=dataclasses.replace(spec.failure_queue, name=f"{spec.failure_queue.name}-{suffix}"),
    )
    streams = [local_tables.client.describe_table(TableName=n)["Table"]["LatestStreamArn"] for n in local_tables.names.values()]
    sqs, events = local_sqs.client(), local_sqs.events_client()
    return Bus(sqs, events, create_local_bus(spec, streams, sqs, events))


def publish_everything(bus: Bus, dynamodb_local, publisher: StatusEventPublisher, retry_attempts: int = 2):
    """Run stream pollers with `publisher` until every change stored so far was handed to it."""
    streams = local_client("dynamodbstreams", dynamodb_local.endpoint_url)

    def describe_failure(batch: dict) -> None:
        bus.sqs.send_message(QueueUrl=bus.local.failure_queue_url, MessageBody=json.dumps(batch))

    source = StreamEventSource(
        streams, bus.local.stream_arns, publisher.handle, retry_attempts=retry_attempts, on_failure=describe_failure
    )
    with source:
        assert source.wait_until_idle(time.monotonic(), timeout=60), source.stats.last_error
    return source.stats


def test_dynamodb_locals_stream_api_serves_each_change_with_both_images_in_order(local_tables, documented_task_message):
    """What the local stand-in relies on: DescribeStream, GetShardIterator and GetRecords on the local endpoint."""
    client = local_tables.client
    table = local_tables.task_table
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    items = [parse_record(sqs_record(task_body(documented_task_message, "job-s", 1, T + n, s))).item
             for n, s in enumerate(["Rendering", "Failed", "Rendering"])]
    for item in items:
        client.put_item(TableName=table, Item=item)
    client.put_item(TableName=table, Item=items[-1])  # unchanged: no record
    streams = local_client("dynamodbstreams", local_tables.endpoint_url)
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "MODIFY"]
    statuses = [(r["dynamodb"].get("OldImage", {}).get("task_details", {}).get("M", {}).get("Status", {}).get("S"),
                 r["dynamodb"]["NewImage"]["task_details"]["M"]["Status"]["S"]) for r in records]
    assert statuses == [(None, "Rendering"), ("Rendering", "Failed"), ("Failed", "Rendering")]
    assert all(r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" for r in records)


def test_one_event_per_stored_status_change_and_none_for_duplicates_stale_or_unchanged_statuses(
    bus, dynamodb_local, local_tables, documented_job_message, documented_task_message
):
    processor, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    task = [task_body(documented_task_message, "job-e", 3, T + n, status)
            for n, status in enumerate(["Rendering", "Failed", "Rendering", "Rendering", "Completed"])]
    job = [job_body(documented_job_message, "job-e", T + 10, "Completed")]
    job[0]["JobDetails"].update(Department="lighting", ExtraInfo={"ExtraInfo9": "off"})  # stored, then carried
    # One batch each, in this order: the Failed attempt again (a duplicate), then the first
    # Rendering after the Failed one (stale), then a Rendering without a status change.
    for batch in ([task[0]], [task[1]], [task[1]], [task[0]], [task[2]], [task[3]], [task[4], *job]):
        processor.handle(sqs_event([sqs_record(body) for body in batch]))
    stats = publish_everything(bus, dynamodb_local, StatusEventPublisher(bus.events, bus.local.bus_name, "acme"))
    events = bus.delivered()

    task_events = sorted((e for e in events if e.kind == TASK), key=lambda e: e.ticks)
    assert [(e.detail.get("previousStatus"), e.detail["status"]) for e in task_events] == [
        (None, "Rendering"), ("Rendering", "Failed"), ("Failed", "Rendering"), ("Rendering", "Completed")
    ]
    ((job_event),) = [e for e in events if e.kind != TASK]
    assert (job_event.detail_type, job_event.detail["status"], job_event.detail["studio"]) == (
        "Deadline Job Status Change", "Completed", "acme"
    )
    assert {name: job_event.detail.get(name) for name in ("department", "frameRange", "taskCount", "notifyOptOut")} == {
        "department": "lighting", "frameRange": "1-3", "taskCount": 3, "notifyOptOut": "off"
    }
    stored_ids = {notification_id(parse_record(sqs_record(body)).item) for body in [task[0], task[1], task[2], task[4], *job]}
    assert {e.detail["eventId"] for e in events} == stored_ids  # each event names the notification stored
    assert stats.records == 6  # five task writes (the unchanged Rendering too) and the job's
    assert drain(bus.sqs, bus.local.failure_queue_url) == []


def test_an_item_the_documented_lambda_wrote_is_taken_over_with_one_event(
    bus, dynamodb_local, local_tables, documented_task_message
):
    old = task_body(documented_task_message, "job-d", 0, T, "Rendering")
    local_tables.client.put_item(TableName=local_tables.task_table, Item=documented_lambda_item(old))
    processor, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    processor.handle(sqs_event([sqs_record(task_body(documented_task_message, "job-d", 0, T + 1, "Completed"))]))
    publish_everything(bus, dynamodb_local, StatusEventPublisher(bus.events, bus.local.bus_name, "acme"))
    events = sorted(bus.delivered(), key=lambda e: e.ticks)
    assert [(e.detail.get("previousStatus"), e.detail["status"]) for e in events] == [(None, "Rendering"), ("Rendering", "Completed")]


def test_a_batch_that_cannot_be_published_is_described_in_the_failure_queue(
    bus, dynamodb_local, local_tables, documented_job_message
):
    processor, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    processor.handle(sqs_event([sqs_record(job_body(documented_job_message, "job-f", T, "Failed"))]))
    nowhere = StatusEventPublisher(bus.events, "no-such-bus", "acme", backoff_seconds=0)  # every PutEvents fails
    stats = publish_everything(bus, dynamodb_local, nowhere, retry_attempts=1)
    (failure,) = [json.loads(body) for body in drain(bus.sqs, bus.local.failure_queue_url)]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["DDBStreamBatchInfo"]["batchSize"] == 1
    assert (stats.invocations, stats.given_up) == (2, 1)
    assert bus.delivered() == []


def test_a_text_input_with_the_word_time_reaches_an_sqs_target_as_it_is(local_sqs):
    """moto's EventBridge, as patched (moto_speedups): a rule's text input reaches SQS as text."""
    sqs, events = local_sqs.client(), local_sqs.events_client()
    suffix = next(_names)
    url = sqs.create_queue(QueueName=f"text-target-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = f"text-bus-{suffix}"
    events.create_event_bus(Name=bus)
    events.put_rule(Name="text", EventBusName=bus, EventPattern=json.dumps({"source": ["test"]}))
    transformer = {"InputPathsMap": {"name": "$.detail.name"}, "InputTemplate": '"Job <name> failed at a bad time"'}
    events.put_targets(Rule="text", EventBusName=bus, Targets=[{"Id": "1", "Arn": arn, "InputTransformer": transformer}])
    events.put_events(Entries=[{"Source": "test", "DetailType": "t", "Detail": json.dumps({"name": "timelapse"}), "EventBusName": bus}])
    assert drain(sqs, url) == ["Job timelapse failed at a bad time"]
