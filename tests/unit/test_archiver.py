"""The archiver: INSERTs of the history as JSON lines to Firehose, in order, within PutRecordBatch's
limits, retrying only what Firehose refused, and telling Lambda where to resume."""

from __future__ import annotations

import io
import json

import pytest
from botocore.exceptions import ClientError

from archive.archiver import (
    DELIVERY_STREAM_VARIABLE,
    MAX_BYTES_PER_CALL,
    MAX_RECORDS_PER_CALL,
    Archiver,
    ConfigurationError,
    Line,
    calls,
)
from archive.columns import row
from status_events.changes import TEST_JOB_PREFIX
from tests.unit.archive_support import history_item, history_record
from tests.unit.processor_support import job_body, task_body

STREAM = "DeadlineNotifications-default-archive"
T = 1709596799_0000000


class FakeFirehose:
    """PutRecordBatch that refuses the records `refuse(data, call_number)` names, and records every call."""

    def __init__(self, refuse=lambda data, call: False, raise_on_calls=()):
        self.calls: list[list[bytes]] = []
        self.refuse = refuse
        self.raise_on_calls = set(raise_on_calls)

    def put_record_batch(self, DeliveryStreamName, Records):  # boto3's parameter names
        assert DeliveryStreamName == STREAM
        number = len(self.calls)
        self.calls.append([record["Data"] for record in Records])
        if number in self.raise_on_calls:
            raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "try again"}}, "PutRecordBatch")
        results = [
            {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"}
            if self.refuse(record["Data"], number)
            else {"RecordId": f"id-{number}-{n}"}
            for n, record in enumerate(Records)
        ]
        return {"FailedPutCount": sum("ErrorCode" in r for r in results), "RequestResponses": results}

    def delivered(self) -> list[dict]:
        """Every row accepted, in order."""
        accepted = []
        for number, call in enumerate(self.calls):
            if number not in self.raise_on_calls:
                accepted += [json.loads(data) for data in call if not self.refuse(data, number)]
        return accepted


def archiver(client) -> tuple[Archiver, list[float], io.StringIO]:
    waits: list[float] = []
    log = io.StringIO()
    return Archiver(client, STREAM, sleep=waits.append, log_stream=log), waits, log


def task_records(template: dict, tasks: int) -> list[dict]:
    return [history_record(history_item(task_body(template, "job-1", task, T + task, "Failed"))) for task in range(tasks)]


def test_every_insert_is_one_json_line_of_its_row_in_stream_order(documented_task_message):
    records = task_records(documented_task_message, 3)
    client = FakeFirehose()
    result = archiver(client)[0].handle({"Records": records})
    assert result == {"batchItemFailures": []}
    (call,) = client.calls
    assert all(data.endswith(b"\n") and data.count(b"\n") == 1 for data in call)
    assert client.delivered() == [row(record["dynamodb"]["NewImage"]) for record in records]


def test_modify_and_remove_records_are_no_notifications_and_are_passed_over(documented_task_message):
    item = history_item(task_body(documented_task_message, "job-1", 1, T))
    client = FakeFirehose()
    records = [history_record(item, "MODIFY"), history_record(item, "REMOVE")]
    assert archiver(client)[0].handle({"Records": records}) == {"batchItemFailures": []}
    assert client.calls == []


def test_the_test_jobs_of_smoke_and_verify_are_in_no_report(documented_task_message, documented_job_message):
    test_job = f"{TEST_JOB_PREFIX}smoke-1"
    records = [
        history_record(history_item(job_body(documented_job_message, test_job, T))),
        history_record(history_item(task_body(documented_task_message, test_job, 0, T))),
        *task_records(documented_task_message, 1),
    ]
    client = FakeFirehose()
    assert archiver(client)[0].handle({"Records": records}) == {"batchItemFailures": []}
    assert [r["job_id"] for r in client.delivered()] == ["job-1"]


def test_calls_keep_within_the_record_count_and_byte_limits():
    small = [Line(str(n), b"x" * 10 + b"\n") for n in range(MAX_RECORDS_PER_CALL + 1)]
    assert [len(call) for call in calls(small)] == [MAX_RECORDS_PER_CALL, 1]
    big = [Line(str(n), b"x" * (MAX_BYTES_PER_CALL // 3)) for n in range(4)]  # three fit, the fourth does not
    assert [len(call) for call in calls(big)] == [3, 1]
    assert [line.sequence_number for call in calls(big) for line in call] == ["0", "1", "2", "3"]
    assert calls([]) == []


def test_refused_records_are_sent_again_alone_with_backoff(documented_task_message):
    records = task_records(documented_task_message, 4)
    refused_once = records[1]["dynamodb"]["NewImage"]["task_id"]["N"]
    client = FakeFirehose(refuse=lambda data, call: call == 0 and json.loads(data)["task_id"] == int(refused_once))
    handler, waits, _ = archiver(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert [len(call) for call in client.calls] == [4, 1]
    assert sorted(r["task_id"] for r in client.delivered()) == [0, 1, 2, 3]
    assert waits == [0.2]


def test_a_record_still_refused_stops_the_batch_there_and_lambda_resumes_from_it(documented_task_message):
    records = task_records(documented_task_message, 3)
    client = FakeFirehose(refuse=lambda data, call: json.loads(data)["task_id"] == 1)
    handler, waits, log = archiver(client)
    result = handler.handle({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert [len(call) for call in client.calls] == [3, 1, 1, 1]  # 4 attempts, only the refused record again
    assert waits == [0.2, 0.4, 0.8]
    assert '"event":"delivery_failed"' in log.getvalue()


def test_a_failing_call_is_sent_again_whole_and_a_later_call_waits_for_it(documented_task_message):
    records = task_records(documented_task_message, 2)
    client = FakeFirehose(raise_on_calls={0})
    handler, _, _ = archiver(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert [len(call) for call in client.calls] == [2, 2]
    assert [r["task_id"] for r in client.delivered()] == [0, 1]


def test_calls_after_a_failed_one_are_not_made(documented_task_message, monkeypatch):
    monkeypatch.setattr("archive.archiver.MAX_RECORDS_PER_CALL", 2)
    records = task_records(documented_task_message, 5)
    client = FakeFirehose(raise_on_calls={1, 2, 3, 4})  # the second call fails on every attempt
    result = archiver(client)[0].handle({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": records[2]["dynamodb"]["SequenceNumber"]}]}
    assert len(client.calls) == 5  # the first call, then 4 attempts of the second; never the third


def test_a_record_that_is_no_notification_is_reported_with_its_reason_not_skipped(documented_task_message):
    records = task_records(documented_task_message, 3)
    del records[1]["dynamodb"]["NewImage"]["timestamp"]
    client = FakeFirehose()
    handler, _, log = archiver(client)
    result = handler.handle({"Records": records})
    assert result == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert [r["task_id"] for r in client.delivered()] == [0]  # what came before it is archived
    assert "record_unarchivable" in log.getvalue() and "Timestamp" in log.getvalue()


class _Context:
    aws_request_id = "request-1"

    def __init__(self, seconds_left: float):
        self.seconds_left = seconds_left

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds_left * 1000)


def test_no_call_is_started_without_time_for_it_before_the_timeout(documented_task_message):
    records = task_records(documented_task_message, 2)
    client = FakeFirehose()
    result = archiver(client)[0].handle({"Records": records}, _Context(seconds_left=5))
    assert result == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    assert client.calls == []


def test_the_environment_must_name_the_delivery_stream():
    with pytest.raises(ConfigurationError, match=DELIVERY_STREAM_VARIABLE):
        Archiver.from_environment({})
    assert Archiver.from_environment({DELIVERY_STREAM_VARIABLE: STREAM}, client=FakeFirehose()).delivery_stream == STREAM
