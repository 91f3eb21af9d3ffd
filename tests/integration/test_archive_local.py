"""The archive on local engines: the processor writes the history on DynamoDB Local, its stream (NEW_IMAGE)
carries each new entry, the real archiver puts the rows on moto's Firehose, which writes them to moto's S3.

moto's Firehose checks the calls and delivers each one to S3 at once, under the stream's plain prefix: it
has no dynamic partitioning or Parquet conversion (the template's assertions cover those), so the objects
hold the archiver's JSON lines as sent.
"""

from __future__ import annotations

import io
import itertools
import json
import time

import pytest

from archive.archiver import Archiver
from archive.columns import row
from local_pipeline.engines import local_client
from local_pipeline.stream_source import StreamEventSource
from notification_processor import BatchProcessor
from notification_processor.history import History
from notification_processor.roles import HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    job_body,
    processor_client,
    sqs_event,
    sqs_record,
    task_body,
)

T = DOCUMENTED_TASK_TICKS
_names = itertools.count()


@pytest.fixture
def streamed_history(local_tables):
    """A history table like the stack's: keyed by job and timeline, streaming each new entry."""
    name = f"archived-history-{next(_names)}"
    local_tables.client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": HISTORY_PARTITION_KEY.name, "KeyType": "HASH"},
            {"AttributeName": HISTORY_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": HISTORY_PARTITION_KEY.name, "AttributeType": HISTORY_PARTITION_KEY.type},
            {"AttributeName": HISTORY_SORT_KEY, "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    yield name
    local_tables.client.delete_table(TableName=name)


@pytest.fixture
def delivery_stream(local_sqs):
    """A Firehose stream on moto writing to its own bucket; its name, and the S3 client to read the bucket."""
    suffix = next(_names)
    s3 = local_client("s3", local_sqs.endpoint_url)
    firehose = local_client("firehose", local_sqs.endpoint_url)
    bucket, stream = f"archive-{suffix}", f"archive-{suffix}"
    s3.create_bucket(Bucket=bucket)
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "notifications/",
        },
    )  # fmt: skip
    yield stream, firehose, s3, bucket
    firehose.delete_delivery_stream(DeliveryStreamName=stream)


def archived_rows(s3, bucket: str) -> list[dict]:
    rows = []
    for listed in s3.list_objects_v2(Bucket=bucket, Prefix="notifications/").get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=listed["Key"])["Body"].read().decode()
        rows += [json.loads(line) for line in body.splitlines() if line]
    return rows


def test_every_distinct_notification_is_archived_once_stale_ones_too(
    dynamodb_local, local_tables, streamed_history, delivery_stream, documented_job_message, documented_task_message
):
    stream_name, firehose, s3, bucket = delivery_stream
    processor = BatchProcessor(
        processor_client(dynamodb_local), local_tables.names, history=History(streamed_history, 30), log_stream=io.StringIO()
    )
    failed = task_body(documented_task_message, "job-a", 1, T, "Failed")
    bodies = [
        job_body(documented_job_message, "job-a", T, "Rendering"),
        task_body(documented_task_message, "job-a", 1, T + 10, "Completed"),
        failed,  # older than the Completed: stale for the task table, still an attempt in the history
        failed,  # a duplicate: the history writes it once
    ]
    assert processor.handle(sqs_event([sqs_record(body) for body in bodies]))["batchItemFailures"] == []

    archiver = Archiver(firehose, stream_name, log_stream=io.StringIO())
    stream_arn = local_tables.client.describe_table(TableName=streamed_history)["Table"]["LatestStreamArn"]
    source = StreamEventSource(
        local_client("dynamodbstreams", dynamodb_local.endpoint_url), [stream_arn], archiver.handle,
        function_name="local-archiver",
    )  # fmt: skip
    with source:
        assert source.wait_until_idle(time.monotonic(), timeout=60), source.stats.last_error

    rows = archived_rows(s3, bucket)
    entries = local_tables.client.scan(TableName=streamed_history, ConsistentRead=True)["Items"]
    assert len(entries) == 3
    assert sorted(rows, key=lambda r: r["event_id"]) == sorted((row(e) for e in entries), key=lambda r: r["event_id"])
    assert sorted((r["kind"], r["status"]) for r in rows) == [("job", "Rendering"), ("task", "Completed"), ("task", "Failed")]
    assert source.stats.given_up == 0
