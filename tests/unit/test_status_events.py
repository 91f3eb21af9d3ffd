"""The publisher's rules: which stream record publishes which event, and how PutEvents failures are retried.

Pure logic: stream records are built from items the processor (or the documented
Lambda) would store; PutEvents is an in-process fake, since no local engine can be
made to refuse some entries of a call.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from notification_processor.identity import notification_id
from notification_processor.notifications import ORDER_ATTRIBUTE
from status_events.changes import ALL_CHANGES, SOURCE, STATUS_CHANGES, TEST_JOB_PREFIX, change_event
from status_events.publisher import (
    MAX_ENTRIES_PER_CALL,
    PUT_ATTEMPTS,
    ConfigurationError,
    StatusEventPublisher,
)
from tests.unit.processor_support import DOCUMENTED_TASK_TICKS
from tests.unit.status_events_support import (
    as_streamed,
    details,
    documented_lambda_item,
    job_item,
    stream_record,
    task_item,
)

T = DOCUMENTED_TASK_TICKS
BUS = "DeadlineNotifications-test"


def event_for(record: dict, publish: str = STATUS_CHANGES, **options):
    return change_event(record, studio="acme", bus_name=BUS, publish=publish, **options)


# --- which records publish what ------------------------------------------------------------


def test_an_insert_publishes_a_status_change_without_a_previous_status(documented_job_message):
    item = job_item(documented_job_message, "job-1", T, "Failed", JobName="shot010", UserName="amelie", NumberOfErrors=3)
    change = event_for(stream_record("INSERT", new=item))
    assert change is not None
    assert (change.entry["Source"], change.entry["DetailType"], change.entry["EventBusName"]) == (
        SOURCE,
        "Deadline Job Status Change",
        BUS,
    )
    assert details(change.entry) == {
        "studio": "acme",
        "jobId": "job-1",
        "jobName": "shot010",
        "userName": "amelie",
        "pluginName": "MayaBatch",
        "pool": "none",
        "group": "none",
        "errors": 3,
        "frameRange": "1-3",
        "taskCount": 3,
        "notification": "JobStoppedNotification",
        "statusReason": "Job was suspended",
        "timestamp": "2020-08-13T20:56:59.1013786Z",
        "status": "Failed",
        "eventId": notification_id(item),
    }
    # The event's time is the notification's, to the microsecond EventBridge keeps.
    assert change.entry["Time"] == datetime(2020, 8, 13, 20, 56, 59, 101378, tzinfo=UTC)


def test_a_job_event_carries_only_job_fields_even_if_its_job_details_hold_task_fields(documented_job_message):
    item = job_item(documented_job_message, "job-1", T, "Failed", TaskID=7, WorkerName="render012")
    detail = details(event_for(stream_record("INSERT", new=item)).entry)
    assert "taskId" not in detail and "workerName" not in detail
    assert (detail["jobId"], detail["status"]) == ("job-1", "Failed")


def test_a_job_event_carries_department_batch_frames_and_task_count_where_the_job_has_them(documented_job_message):
    item = job_item(
        documented_job_message, "job-1", T, "Failed", Department="lighting", BatchName="sq010", FrameRange="1-100",
        NumberOfTasks=25,
    )  # fmt: skip
    detail = details(event_for(stream_record("INSERT", new=item)).entry)
    assert {name: detail[name] for name in ("department", "batchName", "frameRange", "taskCount")} == {
        "department": "lighting",
        "batchName": "sq010",
        "frameRange": "1-100",
        "taskCount": 25,
    }


def test_a_job_without_those_fields_or_with_them_empty_carries_none_of_them(documented_job_message):
    body = _job_body(documented_job_message, "job-1", T, "Failed")
    for name in ("FrameRange", "NumberOfTasks"):
        del body["JobDetails"][name]
    missing = details(event_for(stream_record("INSERT", new=documented_lambda_item(body))).entry)
    empty = details(event_for(stream_record("INSERT", new=job_item(documented_job_message, "job-1", T, "Failed"))).entry)
    assert not {"department", "batchName", "frameRange", "taskCount"} & set(missing)
    assert not {"department", "batchName"} & set(empty)  # Deadline sends "" for a job without them


def _opted_out_job(template: dict, field: str, value: str) -> dict:
    return job_item(template, "job-1", T, "Completed", ExtraInfo={**template["JobDetails"]["ExtraInfo"], field: value})


def test_a_job_event_carries_the_opt_out_field_it_is_configured_with_by_default_extra_info_9(documented_job_message):
    default = details(event_for(stream_record("INSERT", new=_opted_out_job(documented_job_message, "ExtraInfo9", "off"))).entry)
    chosen = event_for(
        stream_record("INSERT", new=_opted_out_job(documented_job_message, "ExtraInfo3", "off")), opt_out_field="ExtraInfo3"
    )
    other = details(event_for(stream_record("INSERT", new=_opted_out_job(documented_job_message, "ExtraInfo3", "off"))).entry)
    assert (default["notifyOptOut"], details(chosen.entry)["notifyOptOut"]) == ("off", "off")
    assert "notifyOptOut" not in other  # ExtraInfo3 is not the field ExtraInfo9's studio reads
    empty = details(event_for(stream_record("INSERT", new=job_item(documented_job_message, "job-1", T, "Failed"))).entry)
    assert "notifyOptOut" not in empty  # "" like any other empty field


def test_task_events_carry_no_job_only_fields(documented_task_message):
    item = task_item(
        documented_task_message, "job-1", 4, T, "Failed", Department="lighting", BatchName="sq010", NumberOfTasks=25,
        ExtraInfo={"ExtraInfo9": "off"},
    )  # fmt: skip
    detail = details(event_for(stream_record("INSERT", new=item)).entry)
    assert not {"department", "batchName", "frameRange", "taskCount", "notifyOptOut"} & set(detail)
    assert (detail["taskId"], detail["status"]) == (4, "Failed")


def test_a_modify_that_changes_the_status_publishes_previous_and_new(documented_task_message):
    rendering = task_item(documented_task_message, "job-1", 4, T, "Rendering", WorkerName="render007")
    failed = task_item(documented_task_message, "job-1", 4, T + 1, "Failed", WorkerName="render007", NumberOfErrors=1)
    change = event_for(stream_record("MODIFY", new=failed, old=rendering))
    assert change is not None
    assert change.entry["DetailType"] == "Deadline Task Status Change"
    detail = details(change.entry)
    assert {name: detail[name] for name in ("jobId", "taskId", "workerName", "previousStatus", "status", "errors")} == {
        "jobId": "job-1",
        "taskId": 4,
        "workerName": "render007",
        "previousStatus": "Rendering",
        "status": "Failed",
        "errors": 1,
    }
    assert detail["statusReason"] == "The Task '5f15e68eb8274818a0570167_0' was set to Completed."  # the StopReason


def test_a_modify_without_a_status_change_publishes_only_when_every_change_is_published(documented_task_message):
    first = task_item(documented_task_message, "job-1", 4, T, "Completed")
    again = task_item(documented_task_message, "job-1", 4, T + 1, "Completed", Progress="100 %")
    record = stream_record("MODIFY", new=again, old=first)
    assert event_for(record) is None
    change = event_for(record, ALL_CHANGES)
    assert change is not None
    assert change.entry["DetailType"] == "Deadline Task Update"
    assert (details(change.entry)["previousStatus"], details(change.entry)["status"]) == ("Completed", "Completed")


def test_in_every_change_mode_a_status_change_keeps_its_status_change_type(documented_job_message):
    old = job_item(documented_job_message, "job-1", T, "Suspended")
    new = job_item(documented_job_message, "job-1", T + 1, "Completed")
    change = event_for(stream_record("MODIFY", new=new, old=old), ALL_CHANGES)
    assert change is not None and change.entry["DetailType"] == "Deadline Job Status Change"


def test_the_events_of_a_test_job_say_so_and_no_others_do(documented_job_message, documented_task_message):
    test_job = f"{TEST_JOB_PREFIX}verify-1"
    job = event_for(stream_record("INSERT", new=job_item(documented_job_message, test_job, T, "Failed")))
    task = event_for(stream_record("INSERT", new=task_item(documented_task_message, test_job, 0, T, "Completed")))
    real = event_for(stream_record("INSERT", new=job_item(documented_job_message, "job-1", T, "Failed")))
    assert job and task and real
    assert details(job.entry)["test"] is True and details(task.entry)["test"] is True
    assert "test" not in details(real.entry)


@pytest.mark.parametrize("publish", [STATUS_CHANGES, ALL_CHANGES])
def test_a_remove_publishes_nothing(documented_job_message, publish):
    item = job_item(documented_job_message, "job-1", T, "Completed")
    assert event_for(stream_record("REMOVE", old=item), publish) is None


def test_an_item_of_the_documented_lambda_replaced_with_the_same_status_publishes_nothing(documented_job_message):
    old = documented_lambda_item(_job_body(documented_job_message, "job-1", T, "Suspended"))
    assert ORDER_ATTRIBUTE not in old
    new = job_item(documented_job_message, "job-1", T + 1, "Suspended")
    assert event_for(stream_record("MODIFY", new=new, old=old)) is None


def test_an_item_of_the_documented_lambda_replaced_with_another_status_publishes_the_change(documented_job_message):
    old = documented_lambda_item(_job_body(documented_job_message, "job-1", T, "Suspended"))
    new = job_item(documented_job_message, "job-1", T + 1, "Completed")
    change = event_for(stream_record("MODIFY", new=new, old=old))
    assert change is not None
    assert (details(change.entry)["previousStatus"], details(change.entry)["status"]) == ("Suspended", "Completed")


def test_an_item_the_documented_lambda_wrote_reads_like_ours_but_for_its_id(documented_job_message):
    body = _job_body(documented_job_message, "job-1", T, "Failed")
    body["JobDetails"]["Pool"] = ""  # the documented Lambda stores NULL, ours ""; neither is published
    ours = event_for(stream_record("INSERT", new=job_item(documented_job_message, "job-1", T, "Failed", Pool="")))
    theirs = event_for(stream_record("INSERT", new=documented_lambda_item(body)))
    assert ours is not None and theirs is not None
    ours_detail, theirs_detail = details(ours.entry), details(theirs.entry)
    assert "pool" not in ours_detail
    assert {**ours_detail, "eventId": ""} == {**theirs_detail, "eventId": ""}


def test_unknown_statuses_are_published_as_they_are(documented_task_message):
    old = task_item(documented_task_message, "job-1", 4, T, "Rendering")
    new = task_item(documented_task_message, "job-1", 4, T + 1, "Teleported")
    change = event_for(stream_record("MODIFY", new=new, old=old))
    assert change is not None and details(change.entry)["status"] == "Teleported"
    again = task_item(documented_task_message, "job-1", 4, T + 2, "Teleported")
    assert event_for(stream_record("MODIFY", new=again, old=new)) is None


def test_an_item_without_a_status_publishes_no_status_change(documented_task_message):
    old = task_item(documented_task_message, "job-1", 4, T, "Rendering")
    no_status = task_item(documented_task_message, "job-1", 4, T + 1, "")
    assert event_for(stream_record("MODIFY", new=no_status, old=old)) is None
    after = task_item(documented_task_message, "job-1", 4, T + 2, "Completed")
    change = event_for(stream_record("MODIFY", new=after, old=no_status))
    assert change is not None
    assert "previousStatus" not in details(change.entry)  # the old item had none


def test_the_event_id_is_the_stored_notifications_whoever_reads_it(documented_job_message):
    body = _job_body(documented_job_message, "job-1", T, "Completed")
    body["JobDetails"]["JobPriority"] = 50.50  # stored as 50.50, streamed back as 50.5
    item = job_item(documented_job_message, "job-1", T, "Completed", JobPriority=50.50)
    change = event_for(stream_record("INSERT", new=item))
    assert change is not None
    assert as_streamed(item)["job_details"]["M"]["JobPriority"] == {"N": "50.5"}
    assert change.event_id == details(change.entry)["eventId"] == notification_id(item)
    # Only the notification's content counts: not SQS's SentTimestamp, not the ordering attribute.
    resent = item | {"sent_timestamp": {"N": "1"}, ORDER_ATTRIBUTE: {"B": b"other"}}
    assert notification_id(resent) == notification_id(item)
    assert notification_id(job_item(documented_job_message, "job-2", T, "Completed")) != notification_id(item)


def _job_body(template: dict, job_id: str, ticks: int, status: str) -> dict:
    from tests.unit.processor_support import job_body

    return job_body(template, job_id, ticks, status)


# --- publishing: calls, partial failures, retries ---------------------------------------------


class FakeEvents:
    """PutEvents that refuses the entries `refuse(entry, call_number)` names, and records every call."""

    def __init__(self, refuse=lambda entry, call: False, raise_on_calls=()):
        self.calls: list[list[dict]] = []
        self.refuse = refuse
        self.raise_on_calls = set(raise_on_calls)

    def put_events(self, Entries):  # boto3's parameter name
        from botocore.exceptions import ClientError

        number = len(self.calls)
        self.calls.append(list(Entries))
        if number in self.raise_on_calls:
            raise ClientError({"Error": {"Code": "InternalException", "Message": "try again"}}, "PutEvents")
        results = [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            if self.refuse(entry, number)
            else {"EventId": f"id-{number}-{n}"}
            for n, entry in enumerate(Entries)
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}

    def published(self) -> list[str]:
        """Every event id accepted, in order."""
        accepted = []
        for number, call in enumerate(self.calls):
            if number not in self.raise_on_calls:
                accepted += [details(entry)["eventId"] for entry in call if not self.refuse(entry, number)]
        return accepted


def publisher(client, publish: str = STATUS_CHANGES) -> tuple[StatusEventPublisher, list[float], io.StringIO]:
    waits: list[float] = []
    log = io.StringIO()
    return StatusEventPublisher(client, BUS, "acme", publish, sleep=waits.append, log_stream=log), waits, log


def task_changes(template: dict, tasks: int, statuses=("Rendering", "Completed")) -> list[dict]:
    """Stream records: every task inserted with the first status, then every task modified to the next, ..."""
    records = []
    previous: dict[int, dict] = {}
    for step, status in enumerate(statuses):
        for task in range(tasks):
            item = task_item(template, "job-1", task, T + step * 1000 + task, status)
            old = previous.get(task)
            records.append(stream_record("MODIFY" if old else "INSERT", new=item, old=old))
            previous[task] = item
    return records


def event_ids(records: list[dict]) -> list[str]:
    return [change.event_id for record in records if (change := event_for(record)) is not None]


def test_every_change_is_published_once_in_stream_order_one_per_key_per_call(documented_task_message):
    records = task_changes(documented_task_message, tasks=12)  # 24 changes of 12 keys
    client = FakeEvents()
    handler, waits, _ = publisher(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert client.published() == event_ids(records)
    assert all(len(call) <= MAX_ENTRIES_PER_CALL for call in client.calls)
    for call in client.calls:
        keys = [(details(entry)["jobId"], details(entry)["taskId"]) for entry in call]
        assert len(keys) == len(set(keys))
    assert waits == []


def test_failed_entries_are_retried_alone_and_nothing_is_published_twice(documented_task_message):
    records = task_changes(documented_task_message, tasks=8)
    ids = event_ids(records)
    refused_once = {ids[1], ids[6]}
    client = FakeEvents(refuse=lambda entry, call: call == 0 and details(entry)["eventId"] in refused_once)
    handler, waits, _ = publisher(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert [details(entry)["eventId"] for entry in client.calls[1]] == [ids[1], ids[6]]  # only those, in order
    assert sorted(client.published()) == sorted(ids)  # every change, each once
    assert len(client.published()) == len(set(client.published()))
    assert waits == [0.2]


def test_a_failing_call_is_retried_whole(documented_task_message):
    records = task_changes(documented_task_message, tasks=2)
    client = FakeEvents(raise_on_calls={0})
    handler, _, _ = publisher(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert client.calls[1] == client.calls[0]
    assert client.published() == event_ids(records)


def test_a_call_whose_answer_is_lost_is_put_again_with_the_same_event_ids(documented_task_message):
    # EventBridge accepted the first call, but its answer never came back: at least once, not exactly once.
    records = task_changes(documented_task_message, tasks=2)
    client = FakeEvents(raise_on_calls={0})
    handler, _, _ = publisher(client)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    accepted_then_lost = [details(entry)["eventId"] for entry in client.calls[0]]
    assert accepted_then_lost + client.published() == event_ids(records)[:2] + event_ids(records)
    assert [details(entry)["eventId"] for entry in client.calls[1]] == accepted_then_lost  # repeats carry the same id


def test_an_entry_that_keeps_failing_stops_the_batch_at_its_record(documented_task_message):
    records = task_changes(documented_task_message, tasks=8)  # 16 changes: calls of 8 (one per task) and 8
    ids = event_ids(records)
    stuck = ids[3]
    client = FakeEvents(refuse=lambda entry, call: details(entry)["eventId"] == stuck)
    handler, waits, log = publisher(client)
    response = handler.handle({"Records": records})
    # Lambda keeps the records before it and delivers the batch again from it.
    assert response == {"batchItemFailures": [{"itemIdentifier": records[3]["dynamodb"]["SequenceNumber"]}]}
    assert len(client.calls) == PUT_ATTEMPTS  # the first call, then the entry alone; no later call
    assert client.published() == [i for i in ids[:8] if i != stuck]
    assert waits == [0.2, 0.4, 0.8]
    (failure,) = [json.loads(line) for line in log.getvalue().splitlines() if '"publish_failed"' in line]
    assert (failure["eventId"], failure["error"]) == (stuck, "ThrottlingException: slow down")


def test_without_time_for_another_call_the_publisher_stops_and_reports_where(documented_task_message):
    records = task_changes(documented_task_message, tasks=8)  # two calls of 8
    client = FakeEvents()
    handler, _, _ = publisher(client)

    class Context:
        """30 s left for the first call, then 5 s: the second call is not started."""

        def __init__(self):
            self.asked = 0

        def get_remaining_time_in_millis(self) -> int:
            self.asked += 1
            return 30_000 if self.asked == 1 else 5_000

    response = handler.handle({"Records": records}, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": records[8]["dynamodb"]["SequenceNumber"]}]}
    assert client.published() == event_ids(records[:8])


def test_a_record_that_cannot_be_read_is_reported_and_nothing_after_it_is_published(documented_task_message):
    records = task_changes(documented_task_message, tasks=3)
    broken = json.loads(json.dumps(records[2]))
    broken["dynamodb"]["NewImage"]["task_details"] = {"M": {"Status": {"S": "Failed", "N": "1"}}}  # two types
    records[2] = broken
    client = FakeEvents()
    handler, _, log = publisher(client)
    assert handler.handle({"Records": records}) == {
        "batchItemFailures": [{"itemIdentifier": broken["dynamodb"]["SequenceNumber"]}]
    }
    assert client.published() == event_ids(records[:2])
    assert '"record_unreadable"' in log.getvalue()


def test_records_without_a_change_to_publish_make_no_call(documented_task_message):
    item = task_item(documented_task_message, "job-1", 0, T, "Completed")
    client = FakeEvents()
    handler, _, log = publisher(client)
    assert handler.handle({"Records": [stream_record("REMOVE", old=item)]}) == {"batchItemFailures": []}
    assert client.calls == []
    (line,) = [json.loads(line) for line in log.getvalue().splitlines()]
    assert (line["event"], line["Records"], line["Changes"], line["Published"]) == ("events_published", 1, 0, 0)


@pytest.mark.parametrize(
    "environment, message",
    [
        ({"STUDIO_NAME": "acme"}, "set EVENT_BUS_NAME"),
        ({"EVENT_BUS_NAME": BUS}, "set STUDIO_NAME"),
        ({"EVENT_BUS_NAME": BUS, "STUDIO_NAME": "acme", "PUBLISH": "everything"}, "PUBLISH must be one of"),
        (
            {"EVENT_BUS_NAME": BUS, "STUDIO_NAME": "acme", "NOTIFY_OPT_OUT_FIELD": "ExtraInfo10"},
            "NOTIFY_OPT_OUT_FIELD must be one of ExtraInfo0, .*ExtraInfo9, not 'ExtraInfo10'",
        ),
    ],
)
def test_a_publisher_without_its_settings_refuses_to_start(environment, message):
    with pytest.raises(ConfigurationError, match=message):
        StatusEventPublisher.from_environment(environment, client=FakeEvents())


def test_a_publisher_carries_the_opt_out_field_its_environment_names(documented_job_message):
    client = FakeEvents()
    environment = {"EVENT_BUS_NAME": BUS, "STUDIO_NAME": "acme", "NOTIFY_OPT_OUT_FIELD": "ExtraInfo2"}
    record = stream_record("INSERT", new=_opted_out_job(documented_job_message, "ExtraInfo2", "off"))
    StatusEventPublisher.from_environment(environment, client=client).handle({"Records": [record]})
    ((entry,),) = client.calls
    assert details(entry)["notifyOptOut"] == "off"
