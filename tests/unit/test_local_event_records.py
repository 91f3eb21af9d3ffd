"""The local event source's pure parts: Lambda's SQS record, the context, reading a handler's response."""

from __future__ import annotations

import base64

import pytest

from local_pipeline.event_source import LambdaContext, failed_message_ids, lambda_sqs_record

QUEUE_ARN = "arn:aws:sqs:eu-west-1:123456789012:notifications"
RECEIVED = {
    "MessageId": "m-1",
    "ReceiptHandle": "handle-1",
    "MD5OfBody": "0123",
    "Body": '{"a": 1}',
    "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000", "SenderId": "AIDA"},
    "MessageAttributes": {
        "trace": {"DataType": "String", "StringValue": "abc"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
    },
    "MD5OfMessageAttributes": "4567",
}


def test_record_has_the_lambda_sqs_event_fields():
    record = lambda_sqs_record(RECEIVED, QUEUE_ARN)
    assert record == {
        "messageId": "m-1",
        "receiptHandle": "handle-1",
        "body": '{"a": 1}',
        "attributes": RECEIVED["Attributes"],
        "messageAttributes": {
            "trace": {"stringValue": "abc", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "blob": {
                "binaryValue": base64.b64encode(b"\x00\x01").decode(),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "0123",
        "md5OfMessageAttributes": "4567",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "eu-west-1",
    }


def test_context_counts_down_from_the_timeout():
    context = LambdaContext("processor", "eu-west-1", timeout_seconds=30)
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000
    assert context.invoked_function_arn == "arn:aws:lambda:eu-west-1:123456789012:function:processor"
    assert context.log_group_name == "/aws/lambda/processor"
    assert context.function_version == "$LATEST" and context.aws_request_id
    assert LambdaContext("processor", "eu-west-1", 0).get_remaining_time_in_millis() == 0


IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    "response, failed",
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}),
        # Lambda fails the whole batch for a response it cannot read.
        ({"batchItemFailures": [{"itemIdentifier": "z"}]}, set(IDS)),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, set(IDS)),
        ({"batchItemFailures": [{}]}, set(IDS)),
        ({"batchItemFailures": "b"}, set(IDS)),
        ("not a response", set(IDS)),
    ],
)
def test_response_is_read_like_report_batch_item_failures(response, failed):
    assert failed_message_ids(response, IDS) == failed


def test_without_report_batch_item_failures_a_returning_handler_succeeds_for_all():
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, IDS, False) == set()
