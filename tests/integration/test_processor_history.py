"""The optional history on DynamoDB Local: every distinct notification once, stale ones included,
one Query per job, and `deadline-sqs history` printing it."""

from __future__ import annotations

import io
import itertools
import json
import threading
import time
from collections import Counter

import pytest

from bench.client_only import json_response
from deadline_sqs import cli
from local_pipeline.engines import local_aws_environment
from notification_processor import BatchProcessor
from notification_processor.history import History
from notification_processor.identity import notification_id
from notification_processor.notifications import ORDER_ATTRIBUTE, parse_record
from notification_processor.roles import HISTORY_EXPIRY_ATTRIBUTE, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from notification_processor.statements import MAX_STATEMENT_ATTEMPTS
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    failed_ids,
    job_body,
    log_lines,
    on_writes,
    processor_client,
    request_items,
    sqs_event,
    sqs_record,
    task_body,
    task_key,
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


class Deadline:
    """A Lambda context whose function times out `seconds` after it is made."""

    aws_request_id = "request-1"

    def __init__(self, seconds: float):
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


def history_requests(table: str):
    """A before-send test for the processor's requests to the history table `table`."""
    marker = json.dumps(f'INTO "{table}"')[1:-1].encode()  # as the request's JSON body spells it
    return lambda request: marker in (request.body or b"")


def warmed_history_processor(dynamodb_local, local_tables, table: str, template: dict):
    """A history processor whose first statements (slow on a cold DynamoDB Local) are behind it."""
    processor, log = history_processor(dynamodb_local, local_tables, table)
    processor.handle(sqs_event([sqs_record(task_body(template, "warm-up", 0, T))]))
    log.truncate(0)
    log.seek(0)
    return processor, log


def test_the_history_is_written_with_statements_while_the_tables_requests_are_in_flight(
    dynamodb_local, local_tables, history_table, documented_task_message
):
    processor, log = warmed_history_processor(dynamodb_local, local_tables, history_table, documented_task_message)
    client = processor._client
    is_history = history_requests(history_table)
    history_sent = threading.Event()
    operations = []
    released_after_the_history = []

    def hold_the_tables_until_the_history_is_sent(request, **_):
        operations.append((request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1], is_history(request)))
        if is_history(request):
            history_sent.set()
        else:  # sequential writes would hold it the whole bound, then fail below
            released_after_the_history.append(history_sent.wait(timeout=60))

    client.meta.events.register("before-send.dynamodb", hold_the_tables_until_the_history_is_sent)
    records = [sqs_record(task_body(documented_task_message, "job-s", task, T + task, "Rendering")) for task in range(30)]
    assert processor.handle(sqs_event(records), Deadline(120)) == {"batchItemFailures": []}

    # 30 keys and 30 entries: requests of statements only (two each, more if a slow machine made the
    # client retry one), no PutItem, and the history's sent while the tables' were in flight.
    assert {operation for operation, _ in operations} == {"BatchExecuteStatement"}
    assert sum(to_history for _, to_history in operations) >= 2 and all(released_after_the_history)
    assert len(timeline(local_tables.client, history_table, "job-s")) == 30
    (counts,) = log_lines(log, "batch_processed")
    assert (counts["Stored"], counts["Failed"]) == (30, 0)


def test_near_the_deadline_a_record_stored_and_recorded_is_not_failed_for_other_records_writes(
    dynamodb_local, local_tables, history_table, documented_task_message
):
    processor, log = warmed_history_processor(dynamodb_local, local_tables, history_table, documented_task_message)
    released = threading.Event()

    def hang_task_2(request, **_):  # its request to each table, and the history's of tasks 0-24
        if any(task_key(item)[1] == 2 for item in request_items(request)):
            released.wait(timeout=60)

    on_writes(processor._client, hang_task_2)
    records = [sqs_record(task_body(documented_task_message, "job-d", task, T + task, "Rendering")) for task in range(30)]
    try:
        response = processor.handle(sqs_event(records), Deadline(3))
    finally:
        released.set()

    # Tasks 25-29: their table request and their history request were both answered in time.
    assert failed_ids(response) == [record["messageId"] for record in records[:25]]
    unfinished = log_lines(log, "write_failed")
    assert sorted((line.get("table", ""), line["keys"]) for line in unfinished) == [("", 25), (history_table, 25)]


def test_a_record_whose_history_write_was_unanswered_comes_back_and_nothing_is_lost(
    dynamodb_local, local_tables, history_table, documented_task_message
):
    processor, log = warmed_history_processor(dynamodb_local, local_tables, history_table, documented_task_message)
    is_history = history_requests(history_table)
    released = threading.Event()

    def hang_the_history(request, **_):
        if is_history(request):
            released.wait(timeout=60)

    processor._client.meta.events.register("before-send.dynamodb", hang_the_history)
    records = [sqs_record(task_body(documented_task_message, "job-l", task, T + task, "Rendering")) for task in range(3)]
    try:
        response = processor.handle(sqs_event(records), Deadline(3))
    finally:
        released.set()
    assert failed_ids(response) == [record["messageId"] for record in records]  # stored, but not yet recorded

    processor._client.meta.events.unregister("before-send.dynamodb", hang_the_history)
    assert processor.handle(sqs_event(records)) == {"batchItemFailures": []}  # redelivered
    assert len(timeline(local_tables.client, history_table, "job-l")) == 3
    counts = [(line["Stored"], line["Duplicate"], line["Failed"]) for line in log_lines(log, "batch_processed")]
    assert counts == [(0, 0, 3), (0, 3, 0)]  # the tables' writes are no-ops the second time


class HistoryStatementFaults:
    """Answers the first `times` requests of statements to the history table with `fault`: a
    statement's own error code inside a successful answer, or an HTTP status for the whole request."""

    def __init__(self, client, table: str, fault: str | int, times: int):
        self.is_history = history_requests(table)
        self.fault, self.left = fault, times
        self.sent: Counter[str] = Counter()
        client.meta.events.register("before-send.dynamodb", self)

    def __call__(self, request, **_):
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
        to_history = self.is_history(request) or (operation == "PutItem" and b'"timeline"' in request.body)
        self.sent[operation] += to_history
        if not self.is_history(request) or self.left <= 0:
            return None
        self.left -= 1
        if isinstance(self.fault, int):
            return json_response(request, {"__type": "InternalServerError", "message": "injected"}, self.fault)
        error = {"Code": self.fault, "Message": "injected"}
        return json_response(request, {"Responses": [{"Error": error}] * request.body.count(b'"Statement":')})


@pytest.mark.parametrize(
    "fault, times, statements_sent, puts, recorded",
    [
        pytest.param("ThrottlingError", MAX_STATEMENT_ATTEMPTS - 1, MAX_STATEMENT_ATTEMPTS, 0, True, id="throttled-then-stored"),
        pytest.param("ThrottlingError", MAX_STATEMENT_ATTEMPTS, MAX_STATEMENT_ATTEMPTS, 0, False, id="throttled-every-time"),
        pytest.param("ValidationError", 1, 1, 2, True, id="other-error-then-putitem"),
        # The client retries the whole request (4 attempts), then each entry's PutItem decides.
        pytest.param(500, 4, 4, 2, True, id="request-failed-then-putitem"),
    ],
)
def test_history_statements_that_fail_are_retried_or_written_by_putitem(
    dynamodb_local, local_tables, history_table, documented_task_message, fault, times, statements_sent, puts, recorded
):
    processor, log = warmed_history_processor(dynamodb_local, local_tables, history_table, documented_task_message)
    faults = HistoryStatementFaults(processor._client, history_table, fault, times)
    records = [sqs_record(task_body(documented_task_message, "job-f", task, T + task, "Rendering")) for task in range(2)]

    response = processor.handle(sqs_event(records))

    assert (faults.sent["BatchExecuteStatement"], faults.sent["PutItem"]) == (statements_sent, puts)
    assert failed_ids(response) == ([] if recorded else [record["messageId"] for record in records])
    assert len(timeline(local_tables.client, history_table, "job-f")) == (2 if recorded else 0)
    failures = log_lines(log, "write_failed")
    assert [line["table"] for line in failures] == ([] if recorded else [history_table] * 2)


def test_an_unexpected_error_in_a_history_write_fails_its_records_and_the_batch_returns(
    dynamodb_local, local_tables, history_table, documented_task_message
):
    processor, log = warmed_history_processor(dynamodb_local, local_tables, history_table, documented_task_message)
    is_history = history_requests(history_table)

    def fail_unexpectedly(request, **_):  # not botocore's: no except clause for DynamoDB expects it
        if is_history(request) or b'"timeline"' in (request.body or b""):
            raise RuntimeError("unexpected")

    processor._client.meta.events.register("before-send.dynamodb", fail_unexpectedly)
    records = [sqs_record(task_body(documented_task_message, "job-u", task, T + task, "Rendering")) for task in range(2)]

    assert failed_ids(processor.handle(sqs_event(records))) == [record["messageId"] for record in records]
    assert [(line["table"], line["error"]) for line in log_lines(log, "write_failed")] == [
        (history_table, "RuntimeError: unexpected")] * 2
