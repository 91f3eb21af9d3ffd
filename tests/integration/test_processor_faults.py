"""DynamoDB errors that outlast the retries fail exactly the records of the keys they hit.

Errors are injected with a botocore `before-send` hook on the processor's client: the
request is answered with DynamoDB's error response (or a timeout) instead of being sent.
A request of statements (many keys) that carries a faulty key fails whole, and each of
its keys is then written alone with a conditional PutItem: that is where the faults
are counted.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from notification_processor.notifications import TASK, parse_record
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    failed_ids,
    is_statement_request,
    log_lines,
    logged_processor,
    newest_items,
    on_writes,
    processor_client,
    request_items,
    sqs_event,
    sqs_record,
    stored_items,
    task_body,
    task_key,
)

T0 = DOCUMENTED_TASK_TICKS
THROTTLED = (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
INTERNAL_ERROR = (500, "InternalServerError", "Internal server error")
INVALID_ITEM = (400, "ValidationException", "One or more parameter values were invalid: the item is refused")


class _Body:
    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_):
        yield self._content


class FaultyKeys:
    """A before-send hook: writes of the chosen task keys get `fault` instead of DynamoDB's answer.

    `fault` is (status, error code, message), or an exception to raise (as a timeout does);
    `failures` is how many attempts per key fail before DynamoDB answers (None: all of them).
    """

    def __init__(self, client, keys: set[tuple], fault, failures: int | None = None):
        self.keys = keys
        self.fault = fault
        self.failures = failures
        self.attempts: Counter = Counter()
        self._lock = threading.Lock()
        on_writes(client, self)

    def __call__(self, request, **_):
        keys = {task_key(item) for item in request_items(request)} & self.keys
        if not keys:
            return None
        if is_statement_request(request):
            return self._fault(request)
        (key,) = keys
        with self._lock:
            self.attempts[key] += 1
            if self.failures is not None and self.attempts[key] > self.failures:
                return None
        return self._fault(request)

    def _fault(self, request):
        if isinstance(self.fault, Exception):
            raise self.fault
        return error_response(request, self.fault)


def error_response(request, fault: tuple[int, str, str]) -> AWSResponse:
    """DynamoDB's answer with `fault`: (status, error code, message)."""
    status, code, message = fault
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})
    headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Body(body.encode()))


def refuse_statuses(client, statuses: set[str]) -> list[str]:
    """DynamoDB refuses, as invalid, every task item with one of these statuses; returns the statuses it refused."""
    refused = []

    def hook(request, **_):
        found = [item["task_details"]["M"]["Status"]["S"] for item in request_items(request)]
        if not statuses.intersection(found):
            return None
        if not is_statement_request(request):
            refused.extend(found)
        return error_response(request, INVALID_ITEM)

    on_writes(client, hook)
    return refused


def stream(template: dict) -> list[dict]:
    """Tasks 0-3 of one job, each Started then Stopped, plus a duplicate of task 1's Stopped."""
    records = []
    for task in range(4):
        records.append(sqs_record(task_body(template, "job", task, T0 + task, "Rendering")))
        records.append(sqs_record(task_body(template, "job", task, T0 + 100 + task, "Completed")))
    return [*records, records[3]]


def of_tasks(records: list[dict], tasks: set[int]) -> list[str]:
    """The message ids of these tasks' records, each once, in batch order."""
    return list(dict.fromkeys(record["messageId"] for record in records if parse_record(record).key[1] in tasks))


@pytest.mark.parametrize(
    "fault, client_options, retried",
    [
        # Throttling backs off for seconds: one attempt keeps the test fast, the outcome is the same.
        pytest.param(THROTTLED, {"retries": {"mode": "standard", "total_max_attempts": 1}}, True, id="throttling"),
        pytest.param(INTERNAL_ERROR, {}, True, id="5xx"),
        pytest.param(ReadTimeoutError(endpoint_url="dynamodb"), {}, True, id="timeout"),
        pytest.param(EndpointConnectionError(endpoint_url="dynamodb"), {}, True, id="no-connection"),
        # Not botocore's: what no retry or except clause expects must still fail only its keys.
        pytest.param(RuntimeError("unexpected"), {}, False, id="unexpected-exception"),
    ],
)
def test_errors_fail_exactly_the_records_of_their_keys_and_redelivery_converges(
    dynamodb_local, local_tables, documented_task_message, fault, client_options, retried
):
    client = processor_client(dynamodb_local, **client_options)
    processor, log = logged_processor(client, local_tables)
    faults = FaultyKeys(client, {("job", 1), ("job", 2)}, fault)
    records = stream(documented_task_message)

    response = processor.handle(sqs_event(records))

    # Every record of a failed key, the superseded ones too: nothing is deleted until its newest is stored.
    assert failed_ids(response) == of_tasks(records, {1, 2})
    assert set(stored_items(local_tables)) == {(TASK, ("job", 0)), (TASK, ("job", 3))}
    attempts = client.meta.config.retries["total_max_attempts"] if retried else 1
    assert faults.attempts == {("job", 1): attempts, ("job", 2): attempts}  # one write per key
    failures = log_lines(log, "write_failed")
    assert sorted(line["key"] for line in failures) == [["job", 1], ["job", 2]]
    assert log_lines(log, "batch_processed")[0]["Failed"] == 5

    faults.keys.clear()
    redelivered = [record for record in records if record["messageId"] in failed_ids(response)]
    assert failed_ids(processor.handle(sqs_event(redelivered))) == []
    assert stored_items(local_tables) == newest_items(records)


def test_a_transient_error_is_retried_and_stored(dynamodb_local, local_tables, documented_task_message):
    client = processor_client(dynamodb_local)
    processor, _ = logged_processor(client, local_tables)
    faults = FaultyKeys(client, {("job", 0)}, INTERNAL_ERROR, failures=2)
    records = stream(documented_task_message)

    assert failed_ids(processor.handle(sqs_event(records))) == []
    assert faults.attempts[("job", 0)] == 3
    assert stored_items(local_tables) == newest_items(records)


def test_an_all_failed_batch_returns_every_message(dynamodb_local, local_tables, documented_task_message):
    client = processor_client(dynamodb_local)
    processor, _ = logged_processor(client, local_tables)
    FaultyKeys(client, {("job", task) for task in range(4)}, INTERNAL_ERROR)
    records = stream(documented_task_message)

    assert failed_ids(processor.handle(sqs_event(records))) == of_tasks(records, set(range(4)))


class NearTimeout:
    """A Lambda context with `seconds` left before the function times out."""

    aws_request_id = "request-1"

    def __init__(self, seconds: float):
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def handle_while_tasks_hang(dynamodb_local, local_tables, records: list[dict], hanging: set[int]):
    """Handle `records` with 2 s left while the writes of the `hanging` tasks get no answer: (response, log)."""
    client = processor_client(dynamodb_local)
    processor, log = logged_processor(client, local_tables)
    # DynamoDB Local's first statements (and the processor's table check) take a cold JVM far
    # longer than the 1 s below: a key of another job first.
    processor.handle(sqs_event([sqs_record(task_body(json.loads(records[0]["body"]), "warm-up", 0, T0))]))
    log.truncate(0)
    log.seek(0)
    answer = threading.Event()

    def hang(request, **_):
        if any(task_key(item)[1] in hanging for item in request_items(request)):
            answer.wait()

    on_writes(client, hang)
    try:
        # 1 s to answer the other writes: DynamoDB Local needs milliseconds, even on a busy machine.
        return processor.handle(sqs_event(records), NearTimeout(seconds=2.0)), log
    finally:
        answer.set()


def test_a_request_unanswered_near_the_function_timeout_fails_its_keys_and_the_batch_returns(
    dynamodb_local, local_tables, documented_task_message
):
    # 30 keys: one request of 25 statements (tasks 0-24) and one of 5; task 2's request hangs.
    records = [sqs_record(task_body(documented_task_message, "job", task, T0 + task, "Rendering")) for task in range(30)]
    response, log = handle_while_tasks_hang(dynamodb_local, local_tables, records, {2})

    assert failed_ids(response) == of_tasks(records, set(range(25)))
    # The hung request is released when the handler has returned: its keys may be written after.
    assert {key for _, key in stored_items(local_tables)} >= {("job", task) for task in range(25, 30)}
    (failure,) = log_lines(log, "write_failed")
    assert "timeout" in failure["error"] and failure["keys"] == 25
    assert log_lines(log, "batch_processed")[0]["requestId"] == "request-1"


def test_writes_unfinished_near_the_function_timeout_are_one_log_line_per_batch(
    dynamodb_local, local_tables, documented_task_message
):
    records = stream(documented_task_message)
    response, log = handle_while_tasks_hang(dynamodb_local, local_tables, records, {1, 2, 3})

    # The four keys share one request of statements: all of them are unfinished.
    assert failed_ids(response) == of_tasks(records, {0, 1, 2, 3})
    (failure,) = log_lines(log, "write_failed")
    assert (failure["keys"], failure["messages"]) == (4, len(of_tasks(records, {0, 1, 2, 3})) + 1)  # task 1's twice
    assert failure["error"] == "no answer before the function's timeout"


def test_a_notification_dynamodb_refuses_is_invalid_alone_and_the_next_newest_is_stored(
    dynamodb_local, local_tables, documented_task_message
):
    client = processor_client(dynamodb_local)
    processor, log = logged_processor(client, local_tables)
    refused = refuse_statuses(client, {"Refused"})
    queued, rendering, bad = (
        sqs_record(task_body(documented_task_message, "job", 0, T0 + ticks, status))
        for ticks, status in ((0, "Queued"), (1, "Rendering"), (2, "Refused"))
    )
    bad_again = sqs_record(bad["body"])  # the same notification, sent twice
    alone = sqs_record(task_body(documented_task_message, "job", 1, T0, "Refused"))
    records = [queued, bad, rendering, bad_again, alone]

    response = processor.handle(sqs_event(records))

    bad_ids = [bad["messageId"], bad_again["messageId"], alone["messageId"]]
    assert failed_ids(response) == bad_ids
    assert stored_items(local_tables) == {(TASK, ("job", 0)): parse_record(rendering).item}
    assert refused == ["Refused", "Refused"]  # each refused notification was sent once, no retries
    invalid = log_lines(log, "invalid_notification")
    assert [line["messageId"] for line in invalid] == bad_ids
    assert all(line["reason"] == "DynamoDB refused the item: " + ": ".join(INVALID_ITEM[1:]) for line in invalid)
    assert log_lines(log, "write_failed") == []
    (counts,) = log_lines(log, "batch_processed")
    assert (counts["Stored"], counts["Stale"], counts["Invalid"], counts["Failed"]) == (1, 1, 3, 0)


def test_when_dynamodb_refuses_every_version_of_a_key_each_is_invalid(dynamodb_local, local_tables, documented_task_message):
    client = processor_client(dynamodb_local)
    processor, _ = logged_processor(client, local_tables)
    refused = refuse_statuses(client, {"Queued", "Rendering"})
    records = [sqs_record(task_body(documented_task_message, "job", 0, T0 + ticks, status))
               for ticks, status in ((0, "Queued"), (1, "Rendering"))]

    assert failed_ids(processor.handle(sqs_event(records))) == [record["messageId"] for record in records]
    assert refused == ["Rendering", "Queued"]  # newest first
    assert stored_items(local_tables) == {}
