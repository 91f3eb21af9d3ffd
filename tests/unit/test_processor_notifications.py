"""Reading one SQS record: the documented schema, exact values, and every kind of bad input."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_processor import notifications
from notification_processor.attributes import KEY_MAPPING, MAX_ATTRIBUTE_NAME_BYTES, MAX_ITEM_BYTES, item_size
from notification_processor.notifications import (
    DIGEST_MODULUS,
    JOB,
    ORDER_ATTRIBUTE,
    TASK,
    InvalidNotification,
    Notification,
    ordering_number,
    parse_record,
)
from tests.unit.processor_support import SENT_BASE_MS, job_body, sqs_record, task_body

ORDERING_ATTRIBUTES = {ORDER_ATTRIBUTE}


def documented_lambda_item(body: dict) -> dict:
    """What the documented Lambda's recurse_nested_dicts stored, except that empty strings stay strings."""
    return {KEY_MAPPING.get(key, key): documented_lambda_item(value) if isinstance(value, dict) else value
            for key, value in body.items()}


def parse(body, **record) -> Notification | InvalidNotification:
    return parse_record(sqs_record(body, **record))


def parsed_body(body: dict) -> dict:
    """`body` as the processor reads it: numbers as Decimal."""
    return json.loads(json.dumps(body), parse_float=Decimal, parse_int=Decimal)


def test_the_documented_job_notification_keeps_the_documented_schema(documented_job_message):
    notification = parse(documented_job_message, sent_ms=1597107580151)

    assert notification.kind == JOB
    assert notification.key == ("5f2eec286ad75c0c9cca7fbc",)
    expected = documented_lambda_item(parsed_body(documented_job_message)) | {
        "job_id": "5f2eec286ad75c0c9cca7fbc",
        "task_type": "JobStoppedNotification",
        "sent_timestamp": Decimal(1597107580151),
    }
    serialize = TypeSerializer().serialize
    assert {name: value for name, value in notification.item.items() if name not in ORDERING_ATTRIBUTES} == {
        name: serialize(value) for name, value in expected.items()
    }
    assert set(notification.item) == {
        "job_details", "notification_info", "timestamp", "protocol_version",
        "job_id", "task_type", "sent_timestamp", *ORDERING_ATTRIBUTES,
    }
    assert notification.item["timestamp"] == {"S": "2020-08-11T00:59:40.1512266Z"}
    ticks, digest = divmod(int(notification.item[ORDER_ATTRIBUTE]["N"]), 10**19)
    assert ticks - 10**18 == 15971075801512266
    assert digest == int.from_bytes(hashlib.sha256(json.dumps(documented_job_message).encode()).digest()[:8]) % 10**19
    assert notification.item["job_details"]["M"]["Department"] == {"S": ""}


def test_the_documented_task_notification_keeps_the_documented_schema(documented_task_message):
    notification = parse(documented_task_message, sent_ms=1597352219101)

    assert notification.kind == TASK
    assert notification.key == ("5f15e68eb8274818a0570167", 0)
    expected = documented_lambda_item(parsed_body(documented_task_message)) | {
        "job_id": "5f15e68eb8274818a0570167",
        "task_id": Decimal(0),
        "task_type": "StoppedTaskNotification",
        "sent_timestamp": Decimal(1597352219101),
    }
    serialize = TypeSerializer().serialize
    assert {name: value for name, value in notification.item.items() if name not in ORDERING_ATTRIBUTES} == {
        name: serialize(value) for name, value in expected.items()
    }
    item = notification.item
    assert set(item) == {
        "source", "task_details", "notification_info", "worker_info", "timestamp", "protocol_version",
        "job_id", "task_id", "task_type", "sent_timestamp", *ORDERING_ATTRIBUTES,
    }
    assert item["worker_info"] == {"M": {"aws_info": {"M": {}}, "CPUs": {"N": "12"}}}
    details = item["task_details"]["M"]
    assert details["TaskID"] == {"N": "0"}
    assert details["WaitingToStart"] == {"BOOL": False}
    assert details["RenderStatus"] == {"S": ""}
    assert details["Properties"]["M"]["ExDic"] == {"M": {}}
    assert int(item[ORDER_ATTRIBUTE]["N"]) // 10**19 == 15973522191013786 + 10**18


@pytest.mark.parametrize(
    "literal, stored",
    [
        ("0.1", "0.1"),
        ("1.10", "1.10"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("0.12345678901234567890123456789012345678", "0.12345678901234567890123456789012345678"),
        ("1e-130", "1E-130"),
        ("9.9999999999999999999999999999999999999e125", "9.9999999999999999999999999999999999999E+125"),
        ("-3", "-3"),
        ("100000000000000000000000000000000000000000000", "100000000000000000000000000000000000000000000"),
        ("-0.0", "0"),
        ("0e999999999999999999", "0"),
    ],
)
def test_numbers_are_stored_exactly_as_sent(documented_task_message, literal, stored):
    text = json.dumps(documented_task_message).replace('"CPUs": 12', f'"CPUs": {literal}')
    notification = parse(text)
    assert notification.item["worker_info"]["M"]["CPUs"] == {"N": stored}


def test_null_lists_and_objects_in_lists_are_stored_as_sent(documented_task_message):
    body = documented_task_message | {"Extra": [None, True, "", {"Timestamp": "x", "n": 1.5}, []]}
    notification = parse(body)
    assert notification.item["Extra"] == {"L": [
        {"NULL": True}, {"BOOL": True}, {"S": ""},
        {"M": {"Timestamp": {"S": "x"}, "n": {"N": "1.5"}}},  # the documented Lambda never renamed in lists
        {"L": []},
    ]}


@pytest.mark.parametrize(
    "name, drop, kind",
    [
        ("TaskRequeuedNotification", None, TASK),  # unknown, with TaskDetails
        ("WorkerStalledNotification", "TaskDetails", JOB),  # unknown, only JobDetails
        ("JobArchivedNotification", None, JOB),
        ("JobSomethingNotification", "JobDetails", TASK),
    ],
)
def test_an_unknown_name_with_valid_keys_is_stored_by_the_details_it_carries(
    documented_job_message, documented_task_message, name, drop, kind
):
    body = documented_task_message | {"JobDetails": documented_job_message["JobDetails"]}
    body["NotificationInfo"] = {"Name": name}
    if drop:
        del body[drop]
    notification = parse(body)
    assert notification.kind == kind
    assert notification.item["task_type"] == {"S": name}


def test_an_integral_task_id_written_as_a_decimal_is_that_task(documented_task_message):
    text = json.dumps(documented_task_message).replace('"TaskID": 0', '"TaskID": 7.0')
    notification = parse(text)
    assert notification.key == ("5f15e68eb8274818a0570167", 7)
    assert notification.item["task_id"] == {"N": "7"}
    assert notification.item["task_details"]["M"]["TaskID"] == {"N": "7.0"}


def test_a_timestamp_with_an_offset_is_ordered_as_the_same_instant_in_utc(documented_task_message):
    utc = parse(documented_task_message)
    offset = parse(documented_task_message | {"Timestamp": "2020-08-13T15:56:59.1013786-05:00"})
    assert offset.ticks == utc.ticks
    assert offset.item["timestamp"] == {"S": "2020-08-13T15:56:59.1013786-05:00"}


def test_the_same_body_sent_twice_has_the_same_order_whatever_its_sqs_attributes(documented_task_message):
    first = parse(documented_task_message, sent_ms=SENT_BASE_MS + 1000)
    again = parse(documented_task_message, sent_ms=SENT_BASE_MS + 2000)
    assert first.order == again.order
    assert first.item["sent_timestamp"] != again.item["sent_timestamp"]


def test_a_reformatted_body_is_ordered_apart_but_stores_the_same_content(documented_task_message):
    compact = parse(json.dumps(documented_task_message, separators=(",", ":")), sent_ms=SENT_BASE_MS)
    indented = parse(json.dumps(documented_task_message, indent=2), sent_ms=SENT_BASE_MS)
    assert compact.ticks == indented.ticks and compact.order != indented.order
    assert {**compact.item, ORDER_ATTRIBUTE: None} == {**indented.item, ORDER_ATTRIBUTE: None}


def test_different_content_at_the_same_timestamp_has_a_different_order(documented_task_message):
    completed = parse(documented_task_message)
    failed = parse(task_body(documented_task_message, "5f15e68eb8274818a0570167", 0, completed.ticks, "Failed"))
    assert completed.ticks == failed.ticks
    assert completed.order != failed.order


def _oversized(job: dict) -> dict:
    job["JobDetails"]["ExtraInfo"]["ExtraInfo0"] = "x" * (400 * 1024)
    return job


def _nested(depth: int) -> dict:
    value = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


BAD_BODIES = {
    # name: (how to break a valid job body, a phrase the reason must contain)
    "not JSON": (lambda job: json.dumps(job)[:-10], "not JSON"),
    "an array": (lambda job: [job], "not a JSON object"),
    "a string": (lambda job: json.dumps("job"), "not a JSON object"),
    "no NotificationInfo": (lambda job: {k: v for k, v in job.items() if k != "NotificationInfo"}, "NotificationInfo.Name"),
    "NotificationInfo not an object": (lambda job: job | {"NotificationInfo": "JobStoppedNotification"}, "NotificationInfo.Name"),
    "no Name": (lambda job: job | {"NotificationInfo": {"StatusReason": "x"}}, "NotificationInfo.Name"),
    "a numeric Name": (lambda job: job | {"NotificationInfo": {"Name": 3}}, "NotificationInfo.Name"),
    "an empty Name": (lambda job: job | {"NotificationInfo": {"Name": ""}}, "NotificationInfo.Name"),
    "no details": (lambda job: {k: v for k, v in job.items() if k != "JobDetails"}, "neither JobDetails nor TaskDetails"),
    "details not an object": (lambda job: job | {"JobDetails": "5f2eec286ad75c0c9cca7fbc"}, "JobDetails is not an object"),
    "no JobID": (lambda job: job | {"JobDetails": {"JobStatus": "Failed"}}, "JobDetails.JobID"),
    "a numeric JobID": (lambda job: job | {"JobDetails": {"JobID": 5}}, "JobDetails.JobID"),
    "an empty JobID": (lambda job: job | {"JobDetails": {"JobID": ""}}, "JobDetails.JobID"),
    "a JobID over the key limit": (lambda job: job | {"JobDetails": {"JobID": "j" * 2049}}, "2048-byte"),
    "no Timestamp": (lambda job: {k: v for k, v in job.items() if k != "Timestamp"}, "Timestamp is missing"),
    "a numeric Timestamp": (lambda job: job | {"Timestamp": 1597107580}, "Timestamp is missing"),
    "an unparsable Timestamp": (lambda job: job | {"Timestamp": "2024-02-30T10:00:00.1234567Z"}, "not a real date"),
    "a Timestamp finer than 100 ns": (lambda job: job | {"Timestamp": "2020-08-11T00:59:40.15122661Z"}, "1 to 7 digits"),
    "NaN": (lambda job: json.dumps(job).replace('"NumberOfErrors": 0', '"NumberOfErrors": NaN'), "NaN"),
    "Infinity": (lambda job: json.dumps(job).replace('"JobPriority": 50', '"JobPriority": -Infinity'), "-Infinity"),
    "39 digits": (lambda job: json.dumps(job).replace('"JobPriority": 50', f'"JobPriority": {"1" * 39}'), "JobDetails.JobPriority has more than 38"),
    "overflow": (lambda job: json.dumps(job).replace('"JobPriority": 50', '"JobPriority": 1e126'), "outside the magnitudes"),
    "underflow": (lambda job: json.dumps(job).replace('"JobPriority": 50', '"JobPriority": 1e-131'), "outside the magnitudes"),
    "a lone surrogate": (lambda job: json.dumps(job).replace('"none"', '"\\ud800"', 1), "lone surrogate"),
    "a lone surrogate in a key": (lambda job: json.dumps(job).replace('"Pool"', '"\\udfff"'), "lone surrogate"),
    "an empty key": (lambda job: job | {"JobDetails": job["JobDetails"] | {"": 1}}, "JobDetails has an empty key"),
    "a repeated key": (
        lambda job: json.dumps(job).replace('"JobStatus": "Suspended"', '"JobStatus": "Suspended", "JobStatus": "Active"'),
        "repeats a key",
    ),
    "two keys stored as timestamp": (lambda job: job | {"timestamp": "2099-01-01T00:00:00Z"}, "both stored as 'timestamp'"),
    "two nested keys stored as one": (
        lambda job: job | {"JobDetails": job["JobDetails"] | {"Source": "a", "source": "b"}}, "both stored as 'source'",
    ),
    "a field the processor sets": (lambda job: job | {"job_id": "another-job"}, "stored as 'job_id', which the processor sets"),
    "nesting beyond 32 levels": (lambda job: job | {"Deep": _nested(32)}, "nests deeper"),
    "nesting beyond the parser": (lambda job: "[" * 100_000, "nests too deeply"),
    "an item over 400 KB": (_oversized, "400 KB"),
}

BAD_TASK_BODIES = {
    "no TaskID": (lambda task: task | {"TaskDetails": {"JobID": "j"}}, "TaskDetails.TaskID"),
    "a string TaskID": (lambda task: task | {"TaskDetails": {"JobID": "j", "TaskID": "0"}}, "TaskDetails.TaskID"),
    "a fractional TaskID": (lambda task: task | {"TaskDetails": {"JobID": "j", "TaskID": 0.5}}, "TaskDetails.TaskID"),
    "a boolean TaskID": (lambda task: task | {"TaskDetails": {"JobID": "j", "TaskID": True}}, "TaskDetails.TaskID"),
    "a TaskID beyond DynamoDB's numbers": (
        lambda task: json.dumps(task).replace('"TaskID": 0', '"TaskID": 1e999999999'), "outside the magnitudes",
    ),
    # DynamoDB's attribute names are at most 64 KB, in nested maps too.
    "a key over DynamoDB's name limit": (
        lambda task: task | {"TaskDetails": task["TaskDetails"] | {"k" * 70_000: "x"}},
        "TaskDetails has a key of 70000 bytes, over DynamoDB's 65536-byte name limit",
    ),
}


def _check_invalid(body, reason_part):
    result = parse(body if isinstance(body, str) else json.dumps(body), message_id="bad-1")
    assert isinstance(result, InvalidNotification), result
    assert result.message_id == "bad-1"
    assert reason_part in result.reason


@pytest.mark.parametrize("case", BAD_BODIES, ids=str)
def test_bad_job_input_is_invalid_with_a_reason(documented_job_message, case):
    breaker, reason_part = BAD_BODIES[case]
    _check_invalid(breaker(json.loads(json.dumps(documented_job_message))), reason_part)


@pytest.mark.parametrize("case", BAD_TASK_BODIES, ids=str)
def test_bad_task_input_is_invalid_with_a_reason(documented_task_message, case):
    breaker, reason_part = BAD_TASK_BODIES[case]
    _check_invalid(breaker(json.loads(json.dumps(documented_task_message))), reason_part)


def test_a_body_too_short_to_be_counted_can_never_exceed_the_item_limit(documented_task_message):
    # The worst case per character: 4-byte UTF-8, in the Name, which is stored twice.
    body = documented_task_message | {"NotificationInfo": {"Name": ""}}
    room = (MAX_ITEM_BYTES - notifications.ADDED_ATTRIBUTES_BYTES) // notifications.MAX_BYTES_PER_BODY_CHARACTER
    body["NotificationInfo"]["Name"] = "\N{GRINNING FACE}" * (room - len(json.dumps(body, ensure_ascii=False)))
    text = json.dumps(body, ensure_ascii=False)
    assert len(text) == room

    notification = parse(text)
    assert item_size(notification.item) <= MAX_ITEM_BYTES


def test_nesting_up_to_dynamodbs_limit_is_accepted(documented_job_message):
    # The item is the first level: 31 nested objects under it are DynamoDB's deepest.
    assert isinstance(parse(documented_job_message | {"Deep": _nested(31)}), Notification)


def test_a_reason_never_quotes_a_long_key(documented_job_message):
    body = documented_job_message | {"k" * 10_000: {"Value": 1}}
    result = parse(json.dumps(body).replace('"Value": 1', '"Value": 1e200'))
    assert isinstance(result, InvalidNotification)
    assert result.reason.startswith("kkk") and "outside the magnitudes" in result.reason
    assert len(result.reason) < 200


@pytest.mark.parametrize(
    "value, size",
    [
        ({"S": "h\N{LATIN SMALL LETTER E WITH ACUTE}llo"}, 6),  # UTF-8 bytes
        ({"N": "12345"}, 4),  # 1 byte per 2 significant digits, plus 1
        ({"N": "-12345"}, 5),  # plus 1 if negative
        ({"N": "0.00120"}, 2),  # zeros around the significant digits do not count
        ({"N": "0"}, 1),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"M": {}}, 3),
        ({"M": {"ab": {"S": "x"}}}, 3 + 1 + 2 + 1),  # 3, plus per element 1, its name and its value
        ({"L": [{"NULL": True}, {"S": ""}]}, 3 + 2 + 1),
    ],
)
def test_item_size_follows_dynamodbs_documented_rule(value, size):
    assert item_size({"name": value}) == len("name") + size


@pytest.mark.parametrize(
    "record_change, reason_part",
    [
        (lambda record: record.pop("body"), "no body"),
        (lambda record: record["attributes"].pop("SentTimestamp"), "SentTimestamp"),
        (lambda record: record["attributes"].update(SentTimestamp="soon"), "SentTimestamp"),
        (lambda record: record.update(attributes=None), "SentTimestamp"),
        (lambda record: record["attributes"].update(SentTimestamp="1" * 39), "SentTimestamp has more than 38"),
    ],
)
def test_a_record_without_body_or_sent_timestamp_is_invalid(documented_job_message, record_change, reason_part):
    record = sqs_record(documented_job_message)
    record_change(record)
    result = parse_record(record)
    assert isinstance(result, InvalidNotification)
    assert reason_part in result.reason


def test_an_unexpected_error_makes_the_record_invalid_instead_of_failing_the_batch(documented_job_message, monkeypatch):
    def broken(*_):
        raise KeyError("a defect")

    monkeypatch.setattr(notifications, "read_body", broken)
    result = parse(documented_job_message, message_id="m-1")
    assert result == InvalidNotification("m-1", "unexpected KeyError while reading the record")


def test_job_and_task_builders_give_valid_notifications(documented_job_message, documented_task_message):
    assert parse(job_body(documented_job_message, "j-1", 5)).key == ("j-1",)
    assert parse(task_body(documented_task_message, "j-1", 3, 5)).key == ("j-1", 3)


def test_a_key_at_dynamodbs_name_limit_is_accepted(documented_task_message):
    # 64 KB of UTF-8: multi-byte characters count by their bytes.
    name = "\N{GRINNING FACE}" * (MAX_ATTRIBUTE_NAME_BYTES // 4)
    notification = parse(documented_task_message | {"TaskDetails": documented_task_message["TaskDetails"] | {name: 1}})
    assert isinstance(notification, Notification)
    too_long = parse(documented_task_message | {name + "k": 1})
    assert isinstance(too_long, InvalidNotification) and "65537 bytes" in too_long.reason


SENT_2024_MS = 1_709_560_800_000  # 2024-03-04T14:00:00Z, when SQS received the test message


@pytest.mark.parametrize(
    "timestamp, reason",
    [
        ("2099-03-04T14:00:00.0000000Z", "Timestamp '2099-03-04T14:00:00.0000000Z' is 75 years after SQS received the message"),
        ("2024-03-06T14:00:00Z", "is 2 days after SQS received"),
        ("2024-03-05T14:00:00.0000001Z", "is 1 day after SQS received"),
        ("2024-03-05T09:00:00.0000001-05:00", "is 1 day after SQS received"),  # an offset names the same instant
    ],
)
def test_a_timestamp_far_after_sqs_received_the_message_is_a_wrong_clock(documented_task_message, timestamp, reason):
    result = parse(documented_task_message | {"Timestamp": timestamp}, sent_ms=SENT_2024_MS)
    assert isinstance(result, InvalidNotification)
    assert reason in result.reason and "86400 s" in result.reason


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-03-05T14:00:00Z",  # exactly the default tolerance ahead
        "2024-03-04T14:00:05.1234567Z",  # a clock a few seconds fast
        "2024-03-04T13:59:00Z",  # stamped before it was sent, as the RCS does
        "2020-08-13T20:56:59.1013786Z",  # sent years later, after an outage
    ],
)
def test_a_timestamp_before_or_shortly_after_sqs_received_the_message_is_stored(documented_task_message, timestamp):
    assert isinstance(parse(documented_task_message | {"Timestamp": timestamp}, sent_ms=SENT_2024_MS), Notification)


def test_the_clock_tolerance_is_a_parameter(documented_task_message):
    record = sqs_record(documented_task_message | {"Timestamp": "2024-03-04T15:00:00.0000001Z"}, sent_ms=SENT_2024_MS)
    assert isinstance(parse_record(record), Notification)
    tight = parse_record(record, max_timestamp_ahead_seconds=3600)
    assert isinstance(tight, InvalidNotification) and "is 1 hour after" in tight.reason and "3600 s" in tight.reason


@pytest.mark.parametrize(
    "timestamp",
    ["0001-01-01T00:00:00+23:59", "1969-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.9999999-23:59"],
)
def test_the_ordering_value_is_a_positive_number_of_at_most_38_digits_for_every_timestamp(documented_task_message, timestamp):
    notification = parse(documented_task_message | {"Timestamp": timestamp}, sent_ms=10**15)
    value = notification.item[ORDER_ATTRIBUTE]
    assert set(value) == {"N"}  # a Number: boto3's resource layer reads it as a Decimal, json.dumps readers handle it
    assert value["N"].isdigit() and len(value["N"]) <= 38
    assert int(value["N"]) == notification.order


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(-10**17, 10**17), st.integers(0, 2**64 - 1)),
    st.tuples(st.integers(-10**17, 10**17), st.integers(0, 2**64 - 1)),
)
def test_the_ordering_value_orders_by_ticks_then_by_digest(first, second):
    assert (ordering_number(*first) < ordering_number(*second)) == (
        (first[0], first[1] % DIGEST_MODULUS) < (second[0], second[1] % DIGEST_MODULUS)
    )
