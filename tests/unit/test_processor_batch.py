"""The handler's answers before it touches DynamoDB: events Lambda never sends, its settings, its deadline."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from notification_processor import CLIENT_OPTIONS, BatchProcessor, ConfigurationError, InvalidEvent
from notification_processor.batch import DEADLINE_MARGIN_PER_UNFINISHED_WRITE_SECONDS, _seconds_to_wait
from tests.unit.processor_support import sqs_record

TABLES = {"DYNAMODB_JOB_INFO_TABLE": "Jobs", "DYNAMODB_TASK_INFO_TABLE": "Tasks"}


@pytest.fixture
def processor() -> BatchProcessor:
    # A client that is never called: every event here is refused before any request.
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(**CLIENT_OPTIONS))
    return BatchProcessor.from_environment(TABLES, client)


@pytest.mark.parametrize("event", [{}, {"Records": None}, {"records": []}, [], "event"], ids=repr)
def test_an_event_without_records_gets_a_clear_error(processor, event):
    with pytest.raises(InvalidEvent, match='no "Records" list: the processor handles Lambda SQS events'):
        processor.handle(event)


@pytest.mark.parametrize("change", [lambda r: r.pop("messageId"), lambda r: r.update(messageId=""),
                                    lambda r: r.update(messageId=7)])
def test_a_record_without_a_message_id_gets_a_clear_error(processor, documented_job_message, change):
    records = [sqs_record(documented_job_message), sqs_record(documented_job_message)]
    change(records[1])
    with pytest.raises(InvalidEvent, match="record 1 of the event has no messageId"):
        processor.handle({"Records": records})
    with pytest.raises(InvalidEvent, match="record 0 of the event has no messageId"):
        processor.handle({"Records": ["not a record"]})


def test_the_clock_tolerance_comes_from_the_environment():
    client = boto3.client("dynamodb", region_name="us-east-1", config=Config(**CLIENT_OPTIONS))
    assert BatchProcessor.from_environment(TABLES | {"MAX_TIMESTAMP_AHEAD_SECONDS": "3600"}, client)
    for bad in ("", "1.5", "-1", "an hour"):
        with pytest.raises(ConfigurationError, match="MAX_TIMESTAMP_AHEAD_SECONDS"):
            BatchProcessor.from_environment(TABLES | {"MAX_TIMESTAMP_AHEAD_SECONDS": bad}, client)


class SecondsLeft:
    """A Lambda context with `seconds` left before the function times out."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


def test_the_time_kept_back_from_the_deadline_grows_with_the_writes_still_unfinished():
    context = SecondsLeft(30)
    one, many = _seconds_to_wait(context, 1), _seconds_to_wait(context, 10_001)
    assert one is not None and many is not None
    assert one - many == pytest.approx(10_000 * DEADLINE_MARGIN_PER_UNFINISHED_WRITE_SECONDS)
    assert one < 30
    assert _seconds_to_wait(SecondsLeft(0.5), 1) == 0
    assert _seconds_to_wait(None, 10_000) is None  # no context (run in-process): no deadline
