"""The statement path (notification_processor/statements.py) on DynamoDB Local.

Each path it adds: a new key (INSERT), a key this container knows (UPDATE against the
known item), a key created by another writer between two requests, an attribute to
remove, the PutItem fallback, a throttled statement inside a successful answer, and a
memory made stale by another container. Every test checks the stored item exactly
against the newest notification, as the PutItem path stores it.
"""

from __future__ import annotations

import io
from collections import Counter

from bench.client_only import json_response
from notification_processor import BatchProcessor
from notification_processor.notifications import TASK, parse_record
from notification_processor.statements import MAX_STATEMENT_ATTEMPTS
from tests.unit.processor_support import (
    DOCUMENTED_TASK_TICKS,
    failed_ids,
    log_lines,
    logged_processor,
    processor_client,
    sqs_event,
    sqs_record,
    stored_items,
    task_body,
)

T0 = DOCUMENTED_TASK_TICKS
KEY = (TASK, ("job", 0))


class Requests:
    """Counts the client's requests by operation (HTTP attempts, retries included)."""

    def __init__(self, client):
        self.client = client
        self.sent: Counter[str] = Counter()
        client.meta.events.register("before-send.dynamodb", self)

    def __call__(self, request, **_):
        self.sent[request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]] += 1

    def take(self) -> dict:
        sent, self.sent = dict(self.sent), Counter()
        return sent


def task_record(template: dict, ticks: int, status: str, task: int = 0, **extra_fields) -> dict:
    return sqs_record(task_body(template, "job", task, T0 + ticks, status) | extra_fields)


def processor_and_requests(dynamodb_local, local_tables):
    client = processor_client(dynamodb_local)
    processor, log = logged_processor(client, local_tables)
    return processor, log, Requests(client)


def test_a_new_key_is_inserted_with_one_request_for_the_whole_batch(dynamodb_local, local_tables, documented_task_message):
    processor, _, requests = processor_and_requests(dynamodb_local, local_tables)
    records = [task_record(documented_task_message, 0, "Rendering", task=task) for task in range(10)]

    assert failed_ids(processor.handle(sqs_event(records))) == []

    assert requests.take() == {"DescribeTable": 2, "BatchExecuteStatement": 1}
    assert stored_items(local_tables) == {(TASK, ("job", task)): parse_record(record).item
                                          for task, record in enumerate(records)}


def test_a_known_key_is_updated_to_exactly_the_newer_item(dynamodb_local, local_tables, documented_task_message):
    processor, log, requests = processor_and_requests(dynamodb_local, local_tables)
    processor.handle(sqs_event([task_record(documented_task_message, 0, "Rendering")]))
    requests.take()
    newer = task_record(documented_task_message, 1, "Completed")

    assert failed_ids(processor.handle(sqs_event([newer]))) == []

    assert requests.take() == {"BatchExecuteStatement": 1}
    assert stored_items(local_tables) == {KEY: parse_record(newer).item}
    assert log_lines(log, "batch_processed")[-1]["Stored"] == 1


def test_an_older_or_the_same_notification_of_a_known_key_changes_nothing(dynamodb_local, local_tables,
                                                                          documented_task_message):
    processor, log, requests = processor_and_requests(dynamodb_local, local_tables)
    newest = task_record(documented_task_message, 5, "Completed")
    processor.handle(sqs_event([newest]))
    requests.take()

    older, again = task_record(documented_task_message, 1, "Rendering"), sqs_record(newest["body"])
    assert failed_ids(processor.handle(sqs_event([older]))) == []
    assert failed_ids(processor.handle(sqs_event([again]))) == []

    assert requests.take() == {"BatchExecuteStatement": 2}
    assert stored_items(local_tables) == {KEY: parse_record(newest).item}
    assert [(line["Stale"], line["Duplicate"]) for line in log_lines(log, "batch_processed")[1:]] == [(1, 0), (0, 1)]


def test_an_attribute_the_newer_notification_lacks_is_removed(dynamodb_local, local_tables, documented_task_message):
    processor, _, _ = processor_and_requests(dynamodb_local, local_tables)
    processor.handle(sqs_event([task_record(documented_task_message, 0, "Rendering", Extra={"a": 1}, Other="x")]))
    newer = task_record(documented_task_message, 1, "Completed")

    processor.handle(sqs_event([newer]))

    stored = stored_items(local_tables)[KEY]
    assert stored == parse_record(newer).item
    assert "Extra" not in stored and "Other" not in stored


def test_a_key_created_by_another_writer_between_two_requests(dynamodb_local, local_tables, documented_task_message):
    """The INSERT meets an item this container never saw: the conditional PutItem decides."""
    client = processor_client(dynamodb_local)
    processor, _ = logged_processor(client, local_tables)
    other = processor_client(dynamodb_local)
    other_processor, _ = logged_processor(other, local_tables)
    theirs_newer = task_record(documented_task_message, 9, "Completed", Theirs=True)
    ours_older = task_record(documented_task_message, 1, "Rendering")
    ours_newest = task_record(documented_task_message, 20, "Requeued")

    def another_writer_first(request, **_):
        if b'"Statements"' in request.body and not stored_items(local_tables):
            other_processor.handle(sqs_event([theirs_newer]))

    client.meta.events.register("before-send.dynamodb.BatchExecuteStatement", another_writer_first)
    assert failed_ids(processor.handle(sqs_event([ours_older]))) == []
    assert stored_items(local_tables) == {KEY: parse_record(theirs_newer).item}  # newest wins

    assert failed_ids(processor.handle(sqs_event([ours_newest]))) == []
    assert stored_items(local_tables) == {KEY: parse_record(ours_newest).item}  # their extra field removed


def test_a_memory_made_stale_by_another_container(dynamodb_local, local_tables, documented_task_message):
    """Container A knows version 1; container B writes version 2 with a field A never saw."""
    a, _, requests = processor_and_requests(dynamodb_local, local_tables)
    b, _ = logged_processor(processor_client(dynamodb_local), local_tables)
    a.handle(sqs_event([task_record(documented_task_message, 0, "Queued")]))
    b.handle(sqs_event([task_record(documented_task_message, 5, "Rendering", OnlyB=[1, 2])]))
    requests.take()

    between = task_record(documented_task_message, 3, "Suspended")
    assert failed_ids(a.handle(sqs_event([between]))) == []  # stale: B's is newer
    assert "OnlyB" in stored_items(local_tables)[KEY]
    newest = task_record(documented_task_message, 9, "Completed")
    assert failed_ids(a.handle(sqs_event([newest]))) == []

    assert stored_items(local_tables) == {KEY: parse_record(newest).item}
    # Version 1 expected and refused (B's item returned), then the UPDATE against B's item.
    assert requests.take() == {"BatchExecuteStatement": 2}


def test_a_known_item_deleted_meanwhile_is_inserted_again(dynamodb_local, local_tables, documented_task_message):
    processor, _, _ = processor_and_requests(dynamodb_local, local_tables)
    processor.handle(sqs_event([task_record(documented_task_message, 5, "Completed")]))
    local_tables.client.delete_item(TableName=local_tables.task_table, Key={"job_id": {"S": "job"}, "task_id": {"N": "0"}})
    older = task_record(documented_task_message, 1, "Rendering")

    assert failed_ids(processor.handle(sqs_event([older]))) == []
    assert stored_items(local_tables) == {KEY: parse_record(older).item}  # the memory decided nothing


def test_a_field_that_cannot_be_quoted_takes_the_put_item_path(dynamodb_local, local_tables, documented_task_message):
    processor, _, requests = processor_and_requests(dynamodb_local, local_tables)
    odd = task_record(documented_task_message, 0, "Rendering", **{'Odd "name"': 1, "x'y": 2})
    plain = task_record(documented_task_message, 0, "Rendering", task=1)

    assert failed_ids(processor.handle(sqs_event([odd, plain]))) == []

    assert requests.take() == {"DescribeTable": 2, "BatchExecuteStatement": 1, "PutItem": 1}
    assert stored_items(local_tables) == {KEY: parse_record(odd).item, (TASK, ("job", 1)): parse_record(plain).item}
    newer = task_record(documented_task_message, 1, "Completed")
    assert failed_ids(processor.handle(sqs_event([newer]))) == []
    assert stored_items(local_tables)[KEY] == parse_record(newer).item  # the odd names removed


class ThrottledStatements:
    """Answers the first `times` statement requests with a 200 whose statements were all throttled."""

    def __init__(self, client, times: int):
        self.left = times
        client.meta.events.register("before-send.dynamodb.BatchExecuteStatement", self)

    def __call__(self, request, **_):
        if self.left <= 0:
            return None
        self.left -= 1
        error = {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity."}
        return json_response(request, {"Responses": [{"Error": error}] * request.body.count(b'"Statement":')})


def test_a_throttled_statement_inside_a_successful_answer_is_sent_again(dynamodb_local, local_tables,
                                                                       documented_task_message):
    processor, _, requests = processor_and_requests(dynamodb_local, local_tables)
    ThrottledStatements(requests.client, times=MAX_STATEMENT_ATTEMPTS - 1)
    record = task_record(documented_task_message, 0, "Rendering")

    assert failed_ids(processor.handle(sqs_event([record]))) == []

    assert requests.take()["BatchExecuteStatement"] == MAX_STATEMENT_ATTEMPTS
    assert stored_items(local_tables) == {KEY: parse_record(record).item}


def test_a_statement_throttled_on_every_attempt_fails_its_records(dynamodb_local, local_tables, documented_task_message):
    processor, log, requests = processor_and_requests(dynamodb_local, local_tables)
    ThrottledStatements(requests.client, times=MAX_STATEMENT_ATTEMPTS)
    records = [task_record(documented_task_message, 0, "Rendering"), task_record(documented_task_message, 1, "Completed")]

    assert failed_ids(processor.handle(sqs_event(records))) == [record["messageId"] for record in records]

    assert stored_items(local_tables) == {}
    (failure,) = log_lines(log, "write_failed")
    assert failure["error"].startswith("ThrottlingError")


def add_out_of_band(tables, name: str) -> None:
    """What another writer might do: an UpdateItem that adds an attribute and leaves `o` alone."""
    tables.client.update_item(
        TableName=tables.names[TASK], Key={"job_id": {"S": "job"}, "task_id": {"N": "0"}},
        UpdateExpression="SET #name = :value", ExpressionAttributeNames={"#name": name},
        ExpressionAttributeValues={":value": {"BOOL": True}},
    )


def test_an_attribute_added_out_of_band_is_removed_by_putitem_and_kept_by_an_update(
    dynamodb_local, local_tables, documented_task_message
):
    """docs/processor.md, "Attributes added out of band": the two paths differ exactly there."""
    client = processor_client(dynamodb_local)
    by_statements, _ = logged_processor(client, local_tables)
    by_put = BatchProcessor(client, local_tables.names, statements=False, log_stream=io.StringIO())  # PutItem only
    first, second, third, fourth = (task_record(documented_task_message, ticks, status) for ticks, status in (
        (0, "Queued"), (1, "Rendering"), (2, "Completed"), (3, "Failed")))
    extra = {"acknowledged": {"BOOL": True}}

    by_statements.handle(sqs_event([first]))  # INSERT: this container now knows the item's names
    add_out_of_band(local_tables, "acknowledged")
    assert failed_ids(by_statements.handle(sqs_event([second]))) == []  # UPDATE
    assert stored_items(local_tables) == {KEY: parse_record(second).item | extra}  # kept

    assert failed_ids(by_put.handle(sqs_event([third]))) == []  # PutItem
    assert stored_items(local_tables) == {KEY: parse_record(third).item}  # removed

    add_out_of_band(local_tables, "acknowledged")
    # The first container's memory is stale (it knows `second`): its UPDATE is refused, returns the
    # whole item, and the UPDATE sent against it removes every name it now knows, the added one too.
    assert failed_ids(by_statements.handle(sqs_event([fourth]))) == []
    assert stored_items(local_tables) == {KEY: parse_record(fourth).item}
