"""The processor against DynamoDB Local: what it stores, what it refuses, what it reports."""

from __future__ import annotations

import json

import pytest

import lambda_function
from local_pipeline.engines import local_aws_environment
from notification_processor.attributes import MAX_ITEM_BYTES, item_size
from notification_processor.notifications import JOB, ORDER_ATTRIBUTE, TASK, parse_record
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    SENT_BASE_MS,
    failed_ids,
    job_body,
    log_lines,
    logged_processor,
    processor_client,
    sqs_event,
    sqs_record,
    stored_items,
    task_body,
    timestamp_text,
)

JOB_ID = "5f2eec286ad75c0c9cca7fbc"
TASK_JOB_ID = "5f15e68eb8274818a0570167"
T0 = DOCUMENTED_TASK_TICKS


@pytest.fixture
def processor_and_log(dynamodb_local, local_tables):
    return logged_processor(processor_client(dynamodb_local), local_tables)


@pytest.fixture
def processor(processor_and_log):
    return processor_and_log[0]


def batch_counts(log) -> list[dict]:
    return [
        {name: line[name] for name in ("Received", "Stored", "Duplicate", "Stale", "Invalid", "Failed")}
        for line in log_lines(log, "batch_processed")
    ]


def test_the_documented_examples_are_stored_in_the_documented_schema(
    processor, local_tables, documented_job_message, documented_task_message
):
    records = [sqs_record(documented_job_message), sqs_record(documented_task_message)]

    assert processor.handle(sqs_event(records)) == {"batchItemFailures": []}

    items = stored_items(local_tables)
    assert items == {
        (JOB, (JOB_ID,)): parse_record(records[0]).item,
        (TASK, (TASK_JOB_ID, 0)): parse_record(records[1]).item,
    }
    task = items[TASK, (TASK_JOB_ID, 0)]
    assert task["timestamp"] == {"S": "2020-08-13T20:56:59.1013786Z"}
    assert task["task_type"] == {"S": "StoppedTaskNotification"}
    assert task["task_details"]["M"]["Status"] == {"S": "Completed"}
    assert task["task_details"]["M"]["WaitingToStart"] == {"BOOL": False}
    assert task["worker_info"]["M"]["aws_info"] == {"M": {}}
    assert items[JOB, (JOB_ID,)]["job_details"]["M"]["Department"] == {"S": ""}


def test_an_older_notification_never_replaces_a_newer_one(processor_and_log, local_tables, documented_task_message):
    processor, log = processor_and_log
    rendering = sqs_record(task_body(documented_task_message, "job", 0, T0, "Rendering"))
    completed = sqs_record(task_body(documented_task_message, "job", 0, T0 + 1, "Completed"))

    processor.handle(sqs_event([completed]))
    processor.handle(sqs_event([rendering]))

    assert stored_items(local_tables) == {(TASK, ("job", 0)): parse_record(completed).item}
    assert batch_counts(log)[1] == {"Received": 1, "Stored": 0, "Duplicate": 0, "Stale": 1, "Invalid": 0, "Failed": 0}


def test_a_batch_writes_only_its_newest_notification_per_key(processor_and_log, local_tables, documented_task_message):
    processor, log = processor_and_log
    started = sqs_record(task_body(documented_task_message, "job", 0, T0, "Rendering"))
    stopped = sqs_record(task_body(documented_task_message, "job", 0, T0 + 10, "Completed"))
    other_task = sqs_record(task_body(documented_task_message, "job", 1, T0))

    assert failed_ids(processor.handle(sqs_event([stopped, started, stopped, other_task]))) == []

    assert stored_items(local_tables) == {
        (TASK, ("job", 0)): parse_record(stopped).item,
        (TASK, ("job", 1)): parse_record(other_task).item,
    }
    assert batch_counts(log) == [{"Received": 4, "Stored": 2, "Duplicate": 1, "Stale": 1, "Invalid": 0, "Failed": 0}]


def test_the_same_notification_delivered_again_changes_nothing(processor_and_log, local_tables, documented_job_message):
    processor, log = processor_and_log
    original = sqs_record(documented_job_message, sent_ms=SENT_BASE_MS + 1000)
    # The same body sent again by Deadline: a new SQS message with a later SentTimestamp.
    resent = sqs_record(documented_job_message, sent_ms=SENT_BASE_MS + 2000)

    processor.handle(sqs_event([original]))
    processor.handle(sqs_event([original]))
    processor.handle(sqs_event([resent]))

    assert stored_items(local_tables) == {(JOB, (JOB_ID,)): parse_record(original).item}
    assert [counts["Duplicate"] for counts in batch_counts(log)] == [0, 1, 1]


def test_notifications_with_equal_timestamps_settle_on_the_same_one_in_any_order(
    processor, local_tables, documented_task_message
):
    def pair(task_id):
        return [sqs_record(task_body(documented_task_message, "job", task_id, T0, status)) for status in ("Failed", "Completed")]

    forward, backward = pair(0), pair(1)[::-1]
    for records in (forward, backward):
        for record in records:
            processor.handle(sqs_event([record]))

    items = stored_items(local_tables)
    for task_id, records in enumerate((forward, backward)):
        winner = max(records, key=lambda record: parse_record(record).order)
        assert items[TASK, ("job", task_id)] == parse_record(winner).item


def test_dynamodb_orders_by_timestamp_across_1970_and_by_digest_between_ties(processor, local_tables, documented_task_message):
    before_1970 = sqs_record(task_body(documented_task_message, "job", 0, -1))
    since_1970 = sqs_record(task_body(documented_task_message, "job", 0, 0))
    ties = [sqs_record(task_body(documented_task_message, "job", 1, T0, f"Status {n}")) for n in range(64)]
    high = max(ties, key=lambda record: parse_record(record).order)
    low = min(ties, key=lambda record: parse_record(record).order)

    for record in (since_1970, before_1970, high, low):
        processor.handle(sqs_event([record]))

    assert stored_items(local_tables) == {
        (TASK, ("job", 0)): parse_record(since_1970).item,
        (TASK, ("job", 1)): parse_record(high).item,
    }


def test_an_item_without_the_ordering_attribute_is_replaced_only_by_a_newer_notification(
    processor, local_tables, documented_job_message
):
    # What the documented Lambda left in an existing table: the schema without the ordering attribute.
    legacy = parse_record(sqs_record(job_body(documented_job_message, JOB_ID, T0 + 100, "Active"))).item
    local_tables.client.put_item(
        TableName=local_tables.job_table,
        Item={name: value for name, value in legacy.items() if name != ORDER_ATTRIBUTE},
    )
    older = sqs_record(job_body(documented_job_message, JOB_ID, T0, "Completed"))
    newer = sqs_record(job_body(documented_job_message, JOB_ID, T0 + 101, "Completed"))

    processor.handle(sqs_event([older]))

    assert stored_items(local_tables)[JOB, (JOB_ID,)]["job_details"]["M"]["JobStatus"] == {"S": "Active"}

    processor.handle(sqs_event([newer]))

    assert stored_items(local_tables) == {(JOB, (JOB_ID,)): parse_record(newer).item}


def test_bad_records_are_reported_and_logged_once_and_good_ones_stored(
    processor_and_log, local_tables, documented_job_message, documented_task_message
):
    processor, log = processor_and_log
    secret = "do-not-log-this-body"
    good = sqs_record(job_body(documented_job_message, "good-job", T0) | {"Marker": secret})
    bad = [
        sqs_record(f'{{"Marker": "{secret}", '),
        sqs_record({"Marker": secret, "NotificationInfo": {"Name": "JobStoppedNotification"}}),
        sqs_record(task_body(documented_task_message, "bad", 0, T0) | {"Timestamp": "2020-08-13T20:56:59", "Marker": secret}),
    ]
    records = [bad[0], good, bad[1], bad[2]]

    response = processor.handle(sqs_event(records))

    assert failed_ids(response) == [record["messageId"] for record in bad]
    assert stored_items(local_tables) == {(JOB, ("good-job",)): parse_record(good).item}
    invalid = log_lines(log, "invalid_notification")
    assert [line["messageId"] for line in invalid] == failed_ids(response)
    assert all(line["reason"] and line["level"] == "WARNING" for line in invalid)
    assert batch_counts(log) == [{"Received": 4, "Stored": 1, "Duplicate": 0, "Stale": 0, "Invalid": 3, "Failed": 0}]
    assert secret not in log.getvalue()


def test_an_all_invalid_batch_returns_every_message(processor):
    records = [sqs_record("not json") for _ in range(3)]
    assert failed_ids(processor.handle(sqs_event(records))) == [record["messageId"] for record in records]


def test_values_and_an_item_at_dynamodbs_limits_are_stored_exactly(processor, local_tables, documented_job_message):
    body = job_body(documented_job_message, "limits", T0) | {"Deep": _nested(31), "Zero": 0, "Padding": ""}
    text = (
        json.dumps(body)
        .replace('"Zero": 0', '"Zero": -0e999999999999999999')
        .replace('"JobPriority": 50', f'"JobPriority": {"9" * 38}')
        # Negative numbers cost DynamoDB a byte more: these three would take the item over.
        .replace('"NumberOfErrors": 0', '"NumberOfErrors": -1e-130')
        .replace('"NumberOfTasks": 3', '"NumberOfTasks": -9.9999999999999999999999999999999999999e125')
        .replace('"JobConcurrentTasks": 1', '"JobConcurrentTasks": -1')
    )

    def padded(length: int) -> dict:
        return sqs_record(text.replace('"Padding": ""', f'"Padding": "{"x" * length}"'), sent_ms=T0 // 10_000)

    at_limit = padded(MAX_ITEM_BYTES - item_size(parse_record(padded(0)).item))
    notification = parse_record(at_limit)
    assert item_size(notification.item) == MAX_ITEM_BYTES
    assert notification.item["job_details"]["M"]["NumberOfTasks"] == {"N": "-9.9999999999999999999999999999999999999E+125"}
    assert notification.item["Zero"] == {"N": "0"}
    assert "400 KB" in parse_record(padded(len(notification.item["Padding"]["S"]) + 1)).reason

    assert failed_ids(processor.handle(sqs_event([at_limit]))) == []

    assert stored_items(local_tables) == {(JOB, ("limits",)): notification.item}


def _nested(depth: int) -> dict:
    value = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_an_empty_event_reports_nothing_and_still_logs_its_counts(processor_and_log):
    processor, log = processor_and_log
    assert processor.handle(sqs_event([])) == {"batchItemFailures": []}
    assert batch_counts(log) == [{"Received": 0, "Stored": 0, "Duplicate": 0, "Stale": 0, "Invalid": 0, "Failed": 0}]


def test_a_bad_message_delivered_twice_in_one_batch_is_reported_and_logged_once(processor_and_log):
    processor, log = processor_and_log
    record = sqs_record("not json")

    assert failed_ids(processor.handle(sqs_event([record, record]))) == [record["messageId"]]

    assert [line["messageId"] for line in log_lines(log, "invalid_notification")] == [record["messageId"]]
    (counts,) = batch_counts(log)
    assert (counts["Received"], counts["Invalid"]) == (2, 2)


def test_each_batch_logs_its_counts_as_embedded_metrics(processor_and_log, documented_task_message):
    processor, log = processor_and_log
    records = [sqs_record(task_body(documented_task_message, "job", 0, T0)), sqs_record("[]")]

    processor.handle(sqs_event(records))

    (line,) = log_lines(log, "batch_processed")
    assert line["_aws"]["CloudWatchMetrics"] == [{
        "Namespace": "DeadlineNotifications",
        "Dimensions": [["FunctionName"]],
        "Metrics": [
            {"Name": name, "Unit": "Count"}
            for name in ("Received", "Stored", "Duplicate", "Stale", "Invalid", "Failed")
        ],
    }]
    assert line["FunctionName"] == "local"
    assert isinstance(line["_aws"]["Timestamp"], int)
    assert (line["Received"], line["Stored"], line["Invalid"]) == (2, 1, 1)


@pytest.fixture
def lambda_environment(monkeypatch, dynamodb_local, local_tables):
    environment = local_aws_environment(dynamodb_endpoint=dynamodb_local.endpoint_url) | {
        "DYNAMODB_JOB_INFO_TABLE": local_tables.job_table,
        "DYNAMODB_TASK_INFO_TABLE": local_tables.task_table,
        "METRICS_NAMESPACE": "StudioNotifications",
        "AWS_LAMBDA_FUNCTION_NAME": "deadline-notifications",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    lambda_function._processor.cache_clear()
    yield
    lambda_function._processor.cache_clear()


@pytest.mark.usefixtures("lambda_environment")
def test_the_lambda_handler_is_configured_by_its_environment(local_tables, capsys, documented_task_message):
    record = sqs_record(task_body(documented_task_message, "job", 3, T0))

    response = lambda_function.main(sqs_event([record, sqs_record("{}")]), None)

    assert len(failed_ids(response)) == 1
    assert stored_items(local_tables) == {(TASK, ("job", 3)): parse_record(record).item}
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [(m["FunctionName"], m["_aws"]["CloudWatchMetrics"][0]["Namespace"]) for m in metrics] == [
        ("deadline-notifications", "StudioNotifications")
    ]


def test_timestamps_with_offsets_compete_as_instants(processor, local_tables, documented_task_message):
    utc_later = task_body(documented_task_message, "job", 0, T0 + 1)
    offset_earlier = task_body(documented_task_message, "job", 0, T0) | {"Timestamp": timestamp_text(T0, -300)}
    later = sqs_record(utc_later)

    processor.handle(sqs_event([later]))
    processor.handle(sqs_event([sqs_record(offset_earlier)]))

    assert stored_items(local_tables)[TASK, ("job", 0)] == parse_record(later).item
