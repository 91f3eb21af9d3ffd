"""The optional history on DynamoDB Local: every distinct notification once, stale ones included,
one Query per job, and `deadline-sqs history` printing it."""

from __future__ import annotations

import io
import itertools
import time

import pytest

from deadline_sqs import cli
from local_pipeline.engines import local_aws_environment
from notification_processor import BatchProcessor
from notification_processor.history import History
from notification_processor.identity import notification_id
from notification_processor.notifications import ORDER_ATTRIBUTE, parse_record
from notification_processor.roles import HISTORY_EXPIRY_ATTRIBUTE, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    failed_ids,
    job_body,
    log_lines,
    processor_client,
    sqs_event,
    sqs_record,
    task_body,
)

T = DOCUMENTED_TASK_TICKS
DAYS = 30
_names = itertools.count()


@pytest.fixture
def history_table(local_tables):
    name = f"history-{next(_names)}"
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
    )
    yield name
    local_tables.client.delete_table(TableName=name)


def history_processor(dynamodb_local, local_tables, table: str):
    log = io.StringIO()
    client = processor_client(dynamodb_local)
    return BatchProcessor(client, local_tables.names, history=History(table, DAYS), log_stream=log), log


def timeline(client, table: str, job_id: str) -> list[dict]:
    return client.query(
        TableName=table,
        KeyConditionExpression="job_id = :job",
        ExpressionAttributeValues={":job": {"S": job_id}},
        ConsistentRead=True,
    )["Items"]


def test_every_distinct_notification_is_recorded_once_stale_ones_included_in_time_order(
    dynamodb_local, local_tables, history_table, documented_job_message, documented_task_message
):
    processor, log = history_processor(dynamodb_local, local_tables, history_table)
    failed = task_body(documented_task_message, "job-h", 2, T + 2, "Failed")
    rendering = task_body(documented_task_message, "job-h", 2, T + 1, "Rendering")
    retried = task_body(documented_task_message, "job-h", 2, T + 3, "Rendering")
    job = job_body(documented_job_message, "job-h", T + 4, "Failed")
    other_task = task_body(documented_task_message, "job-h", 5, T, "Completed")
    before = time.time()
    # The newer Failed first, then the older Rendering (stale for the task table), duplicates.
    assert processor.handle(sqs_event([sqs_record(failed), sqs_record(failed), sqs_record(other_task)])) == {
        "batchItemFailures": []
    }
    assert processor.handle(sqs_event([sqs_record(rendering), sqs_record(retried), sqs_record(job), sqs_record(job)])) == {
        "batchItemFailures": []
    }
    assert processor.handle(sqs_event([sqs_record(failed)])) == {"batchItemFailures": []}  # sent again, later
    after = time.time()

    entries = timeline(local_tables.client, history_table, "job-h")
    expected = [other_task, rendering, failed, retried, job]  # by Timestamp, the job's own among its tasks'
    assert [entry[HISTORY_SORT_KEY]["S"].split("#")[1] for entry in entries] == [
        notification_id(parse_record(sqs_record(body)).item) for body in expected
    ]
    for entry, body in zip(entries, expected, strict=True):
        stored = parse_record(sqs_record(body)).item
        assert {k: v for k, v in entry.items() if k not in (HISTORY_SORT_KEY, HISTORY_EXPIRY_ATTRIBUTE, "sent_timestamp")} == {
            k: v for k, v in stored.items() if k not in (ORDER_ATTRIBUTE, "sent_timestamp")
        }
        assert before + DAYS * 86400 - 1 <= int(entry[HISTORY_EXPIRY_ATTRIBUTE]["N"]) <= after + DAYS * 86400
    counts = [(line["Stored"], line["Duplicate"], line["Stale"], line["Failed"]) for line in log_lines(log, "batch_processed")]
    assert counts == [(2, 1, 0, 0), (2, 1, 1, 0), (0, 0, 1, 0)]  # the redelivered Failed is stale by then


def test_a_notification_whose_history_entry_fails_is_left_on_the_queue(dynamodb_local, local_tables, documented_job_message):
    processor, log = history_processor(dynamodb_local, local_tables, "no-such-history-table")
    record = sqs_record(job_body(documented_job_message, "job-x", T, "Completed"))
    assert failed_ids(processor.handle(sqs_event([record]))) == [record["messageId"]]
    (failure,) = log_lines(log, "write_failed")
    assert failure["table"] == "no-such-history-table" and failure["messageIds"] == [record["messageId"]]
    (counts,) = log_lines(log, "batch_processed")
    assert (counts["Stored"], counts["Failed"]) == (0, 1)  # stored in the job table, but not yet in the history


def test_a_body_with_a_field_named_like_a_history_attribute_is_refused(documented_job_message):
    body = job_body(documented_job_message, "job-y", T, "Completed") | {HISTORY_SORT_KEY: "mine"}
    assert "which the processor sets" in parse_record(sqs_record(body)).reason


def test_the_history_command_prints_the_jobs_timeline(
    dynamodb_local, local_tables, history_table, documented_job_message, documented_task_message, monkeypatch, capsys
):
    processor, _ = history_processor(dynamodb_local, local_tables, history_table)
    bodies = [
        task_body(documented_task_message, "job-c", 1, T, "Rendering"),
        task_body(documented_task_message, "job-c", 1, T + 1, "Failed"),
        job_body(documented_job_message, "job-c", T + 2, "Failed"),
    ]
    processor.handle(sqs_event([sqs_record(body) for body in bodies]))
    for name, value in local_aws_environment(dynamodb_endpoint=dynamodb_local.endpoint_url).items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()

    assert cli.main(["history", "job-c", "--history-table", history_table]) == cli.OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Job job-c: 3 notifications (the job's and 1 tasks'), oldest first"
    assert [line.split()[1:4] for line in lines[2:4]] == [["task", "1", "Rendering"], ["task", "1", "Failed"]]
    assert lines[4].split()[1:3] == ["job", "Failed"]
    assert lines[2].split()[0] == "2020-08-13T20:56:59.1013786Z"  # the UTC Timestamp
    assert lines[4].endswith("JobStoppedNotification: Job was suspended")  # the documented example's Name and reason


def test_the_history_command_needs_a_history_table(capsys):
    assert cli.main(["history", "job-c"]) == cli.ERROR
    assert "--history-table" in capsys.readouterr().err
