"""SendMessageBatch grouping and partial failures (stubbed SQS: what the service answers is the point)."""

from __future__ import annotations

import boto3
from botocore.stub import ANY, Stubber

from deadline_sqs.sending import BATCH_BYTES, batches, send_bodies

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/notifications"


def test_batches_hold_at_most_ten_entries_and_one_mebibyte():
    small = ["x" * 100] * 23
    assert [len(batch) for batch in batches(small)] == [10, 10, 3]
    large = ["x" * (BATCH_BYTES // 3)] * 4 + ["y"]
    assert list(batches(large)) == [[0, 1, 2], [3, 4]]
    assert list(batches(["z" * (BATCH_BYTES + 1), "a"])) == [[0], [1]]


def _sqs():
    return boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_service_side_failures_are_retried_and_sender_faults_reported():
    sqs = _sqs()
    stubber = Stubber(sqs)
    stubber.add_response(
        "send_message_batch",
        {
            "Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}],
            "Failed": [
                {"Id": "1", "SenderFault": False, "Code": "InternalError"},
                {"Id": "2", "SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad"},
            ],
        },
        {"QueueUrl": QUEUE_URL, "Entries": ANY},
    )
    stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}], "Failed": []},
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "MessageBody": "b"}]},
    )
    progress = []
    with stubber:
        report = send_bodies(sqs, QUEUE_URL, ["a", "b", "c"], progress.append)
    stubber.assert_no_pending_responses()
    assert report.sent == 2
    assert [(failure.index, failure.code) for failure in report.failures] == [(2, "InvalidMessageContents")]
    assert progress == [3]


def test_a_refused_call_fails_its_entries_and_sending_goes_on():
    sqs = _sqs()
    stubber = Stubber(sqs)
    stubber.add_client_error("send_message_batch", "BatchRequestTooLong", "too long")
    stubber.add_response("send_message_batch", {"Successful": [], "Failed": []})
    bodies = ["x" * BATCH_BYTES, "y"]
    with stubber:
        report = send_bodies(sqs, QUEUE_URL, bodies)
    assert report.sent == 1
    assert [(failure.index, failure.code) for failure in report.failures] == [(0, "BatchRequestTooLong")]
