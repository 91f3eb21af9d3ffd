"""The processor against DynamoDB Local: what it stores, what it refuses, what it reports."""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest
from botocore.awsrequest import AWSResponse

import lambda_function
from local_pipeline.engines import LOCAL_CREDENTIALS, LOCAL_REGION, local_aws_environment
from notification_processor.attributes import MAX_ITEM_BYTES, item_size
from notification_processor.notifications import JOB, ORDER_ATTRIBUTE, TASK, parse_record
from notification_processor.store import Outcome, write_if_newer
from tests.conftest import LocalTables
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


def test_an_unstorable_notification_is_invalid_alone_and_the_older_good_one_is_stored(
    processor_and_log, local_tables, documented_task_message
):
    # DynamoDB refuses attribute names over 64 KB (DynamoDB Local over 50,000 bytes, as an internal error).
    processor, log = processor_and_log
    good = sqs_record(task_body(documented_task_message, "job", 0, T0, "Rendering"))
    unstorable_body = task_body(documented_task_message, "job", 0, T0 + 1, "Completed")
    unstorable_body["TaskDetails"]["k" * 70_000] = "x"
    unstorable = sqs_record(unstorable_body)

    response = processor.handle(sqs_event([good, unstorable]))

    assert failed_ids(response) == [unstorable["messageId"]]
    assert stored_items(local_tables) == {(TASK, ("job", 0)): parse_record(good).item}
    (line,) = log_lines(log, "invalid_notification")
    assert line["messageId"] == unstorable["messageId"] and "name limit" in line["reason"]
    assert log_lines(log, "write_failed") == []


def test_a_notification_from_a_wrong_clock_is_invalid_and_does_not_lock_its_key(
    processor_and_log, local_tables, documented_task_message
):
    processor, log = processor_and_log
    sent_ms = T0 // 10_000 + 60_000  # SQS received these a minute after the first Timestamp
    first = sqs_record(task_body(documented_task_message, "job", 0, T0, "Rendering"), sent_ms=sent_ms)
    year_2099 = task_body(documented_task_message, "job", 0, T0, "Failed") | {"Timestamp": "2099-01-01T00:00:00.0000000Z"}
    wrong_clock = sqs_record(year_2099, sent_ms=sent_ms)
    real = sqs_record(task_body(documented_task_message, "job", 0, T0 + 10, "Completed"), sent_ms=sent_ms + 1)

    processor.handle(sqs_event([first]))
    assert failed_ids(processor.handle(sqs_event([wrong_clock]))) == [wrong_clock["messageId"]]
    assert failed_ids(processor.handle(sqs_event([real]))) == []

    assert stored_items(local_tables) == {(TASK, ("job", 0)): parse_record(real).item}
    (line,) = log_lines(log, "invalid_notification")
    assert "Timestamp '2099-01-01T00:00:00.0000000Z' is 78 years after SQS received the message" in line["reason"]


def test_readers_of_the_documented_tables_read_every_item_through_boto3s_resource_layer(
    processor, local_tables, documented_job_message, documented_task_message
):
    # The common reader: boto3's resource layer, then json.dumps with a default for its Decimals.
    processor.handle(sqs_event([sqs_record(documented_job_message), sqs_record(documented_task_message)]))
    resource = boto3.resource("dynamodb", endpoint_url=local_tables.endpoint_url, region_name=LOCAL_REGION, **LOCAL_CREDENTIALS)

    def default(value):
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        raise TypeError(type(value).__name__)

    for kind, table in local_tables.names.items():
        (item,) = resource.Table(table).scan(ConsistentRead=True)["Items"]
        read_back = json.loads(json.dumps(item, default=default))
        assert read_back[ORDER_ATTRIBUTE] == parse_record(
            sqs_record(documented_job_message if kind == JOB else documented_task_message)
        ).order


def test_dynamodb_compares_the_ordering_number_to_its_last_digit(local_tables, dynamodb_local, documented_task_message):
    notification = parse_record(sqs_record(task_body(documented_task_message, "job", 0, T0)))
    client = processor_client(dynamodb_local)

    def stored_with_order(order: int) -> None:
        local_tables.client.put_item(
            TableName=local_tables.task_table, Item=notification.item | {ORDER_ATTRIBUTE: {"N": str(order)}}
        )

    assert len(str(notification.order)) == 38
    stored_with_order(notification.order + 1)
    assert write_if_newer(client, local_tables.task_table, notification).outcome is Outcome.STALE
    stored_with_order(notification.order)
    assert write_if_newer(client, local_tables.task_table, notification).outcome is Outcome.DUPLICATE
    stored_with_order(notification.order - 1)
    assert write_if_newer(client, local_tables.task_table, notification).outcome is Outcome.STORED


LEGACY_ITEMS = {
    # How an item without the ordering attribute can look: name -> (what to change, its instant in ticks).
    "documented Lambda": (lambda item: item, T0),
    "earlier version's binary v": (lambda item: item | {"v": {"B": b"\x80" * 16}}, T0),
    "Timestamp with an offset": (lambda item: item | {"timestamp": {"S": timestamp_text(T0, -300)}}, T0),
    "Timestamp with fewer digits": (lambda item: item | {"timestamp": {"S": timestamp_text(T0 - 6, digits=6)}}, T0 - 6),
}


@pytest.mark.parametrize("legacy", LEGACY_ITEMS, ids=str)
def test_an_item_without_the_ordering_attribute_is_replaced_only_by_a_notification_after_its_timestamp(
    processor, local_tables, documented_task_message, legacy
):
    change, instant = LEGACY_ITEMS[legacy]
    item = parse_record(sqs_record(task_body(documented_task_message, "job", 0, instant, "Taken over"))).item
    stored = change({name: value for name, value in item.items() if name != ORDER_ATTRIBUTE})
    local_tables.client.put_item(TableName=local_tables.task_table, Item=stored)

    def status_after(ticks: int, status: str) -> str:
        record = sqs_record(task_body(documented_task_message, "job", 0, ticks, status))
        assert failed_ids(processor.handle(sqs_event([record]))) == []
        return stored_items(local_tables)[TASK, ("job", 0)]["task_details"]["M"]["Status"]["S"]

    assert status_after(instant - 1, "Older") == "Taken over"  # an older redelivery still in flight
    assert status_after(instant, "Same instant") == "Taken over"  # a tie keeps what is stored
    assert status_after(instant + 1, "Newer") == "Newer"


@pytest.mark.parametrize(
    "timestamp", [None, {"NULL": True}, {"S": "yesterday"}, {"S": ""}, {"N": "1597352219"}], ids=repr
)
def test_an_item_without_the_ordering_attribute_or_an_instant_is_replaced(
    processor, local_tables, documented_task_message, timestamp
):
    item = parse_record(sqs_record(task_body(documented_task_message, "job", 0, T0, "Taken over"))).item
    stored = {name: value for name, value in item.items() if name not in (ORDER_ATTRIBUTE, "timestamp")}
    local_tables.client.put_item(TableName=local_tables.task_table, Item=stored | ({"timestamp": timestamp} if timestamp else {}))
    older = sqs_record(task_body(documented_task_message, "job", 0, T0 - 10**9, "Stored"))

    assert failed_ids(processor.handle(sqs_event([older]))) == []

    assert stored_items(local_tables) == {(TASK, ("job", 0)): parse_record(older).item}


def test_tables_named_the_wrong_way_round_fail_every_record_with_one_reason(
    dynamodb_local, local_tables, documented_job_message, documented_task_message
):
    swapped = LocalTables(local_tables.client, local_tables.endpoint_url,
                          {JOB: local_tables.task_table, TASK: local_tables.job_table})
    processor, log = logged_processor(processor_client(dynamodb_local), swapped)
    records = [sqs_record(documented_job_message), sqs_record(documented_task_message)]

    for _ in range(2):
        response = processor.handle(sqs_event(records))
        assert failed_ids(response) == [record["messageId"] for record in records]

    assert stored_items(local_tables) == {}
    lines = log_lines(log, "tables_unusable")
    assert len(lines) == 2  # one per batch
    assert "is keyed job_id (S) + task_id (N), but job notifications need a table keyed job_id (S)" in lines[0]["reason"]
    assert "DYNAMODB_JOB_INFO_TABLE" in lines[0]["reason"] and "DYNAMODB_TASK_INFO_TABLE" in lines[0]["reason"]
    assert [line["Failed"] for line in log_lines(log, "batch_processed")] == [2, 2]


def test_the_tables_keys_are_checked_once_and_an_unanswered_check_is_tried_again(
    dynamodb_local, local_tables, documented_task_message
):
    client = processor_client(dynamodb_local)
    processor, log = logged_processor(client, local_tables)
    described = []

    def describe(request, **_):
        described.append(json.loads(request.body)["TableName"])
        if len(described) == 1:
            return AWSResponse(request.url, 400, {"x-amzn-RequestId": "injected"}, _AccessDenied())

    client.meta.events.register("before-send.dynamodb.DescribeTable", describe)
    record = sqs_record(task_body(documented_task_message, "job", 0, T0))

    assert failed_ids(processor.handle(sqs_event([record]))) == [record["messageId"]]
    assert "cannot describe the table" in log_lines(log, "tables_unusable")[0]["reason"]
    for _ in range(2):
        assert failed_ids(processor.handle(sqs_event([record]))) == []

    assert sorted(described[1:]) == sorted(local_tables.names.values())  # once per table, after the failed try


class _AccessDenied:
    def stream(self, **_):
        yield json.dumps({"__type": "com.amazon.coral.service#AccessDeniedException",
                          "message": "not authorized to perform: dynamodb:DescribeTable"}).encode()
