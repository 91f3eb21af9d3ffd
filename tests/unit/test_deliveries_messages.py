"""The sender's messages: template fields, every format's rendering, the SNS requests, opt-out, envelopes."""

from __future__ import annotations

import io
import json
import re

import pytest

from deliveries import rendering
from deliveries.destinations import (
    ARTISTS,
    CHAT,
    ConfigurationError,
    Destination,
    destinations_from_environment,
    encode_destinations,
)
from deliveries.envelope import BadRecord, Delivery, deliveries_of
from deliveries.handler import sender_from_environment
from deliveries.message import FIELD_NAMES, message_fields, message_fields_of_alarm, readable_time
from deliveries.publishing import artist_request, chat_request, message_attributes
from deliveries.rendering import TemplateError, render, render_subject
from deliveries.sender import Sender, opted_out
from tests.unit.deliveries_support import BARE_DETAIL, FULL_DETAIL, alarm_notification, job_event, sqs_message, wrapped

ARTISTS_DESTINATION = Destination(name=ARTISTS, kind=ARTISTS, target="arn:aws:sns:eu-west-1:1:jobs", format="email")
CHAT_DESTINATION = Destination(name="wranglers", kind=CHAT, target="arn:aws:sns:eu-west-1:1:chat", format="chat",
                               alarms=True)
DESTINATIONS = {each.name: each for each in (ARTISTS_DESTINATION, CHAT_DESTINATION)}
UNREADABLE = re.compile(r"\bnull\b|\bNone\b|\[\]|\{\}|\(\)|: *$", re.MULTILINE)
# Events with every field, with none but the ones always there, and with unreadable values.
SAMPLES = {
    "full": job_event(),
    "bare": job_event(BARE_DETAIL),
    "nulls": job_event(jobName=None, userName="", statusReason="null", previousStatus=None, frameRange=[]),
    "task": {**job_event(taskId=7, workerName="render-01"), "detail-type": "Deadline Task Status Change"},
}
ALARM = alarm_notification(json.dumps({
    "AlarmName": "DeliveriesDeadLetterAlarm", "AlarmDescription": "Deliveries failed", "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0).",
}))
JOB_ALERT = alarm_notification("Deadline job shot010 (65e5...) of amelie is Failed: Job has failed. Errors: 3.")


def assert_readable(text: str) -> None:
    assert UNREADABLE.search(text) is None, text


def shown_text(format_name: str, body: str) -> str:
    """What a reader sees of a body: the e-mail's text, or a JSON body's string values (its structure may
    hold an empty list, such as Discord's allowed_mentions)."""
    return body if format_name == rendering.EMAIL else "\n".join(rendering._strings(json.loads(body)))


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_field_is_readable_text_even_when_the_event_lacks_it(sample):
    fields = message_fields(SAMPLES[sample])
    assert set(fields) == FIELD_NAMES
    for name, value in fields.items():
        assert isinstance(value, str) and value.strip(), name
        assert_readable(value)


def test_fields_of_a_full_event():
    fields = message_fields(job_event())
    assert fields["title"] == "Render Failed: shot010_lighting"
    assert fields["time"] == "2024-03-04 15:02:11 UTC"
    assert fields["summary"] == (
        "shot010_lighting of amelie is Failed (was Active) at 2024-03-04 15:02:11 UTC: Job has failed"
    )
    assert (fields["errors"], fields["taskCount"], fields["kind"]) == ("3", "10", "job")


def test_missing_fields_fall_back_to_words():
    fields = message_fields(job_event(BARE_DETAIL))
    assert fields["jobName"] == BARE_DETAIL["jobId"]  # the job's id stands in for its name
    assert (fields["userName"], fields["previousStatus"], fields["statusReason"]) == (
        "(unknown user)", "(new)", "(none given)"
    )
    assert fields["time"] == "2024-03-04 15:02:11 UTC"  # the event's own time, without a Timestamp
    assert (fields["errors"], fields["batchName"], fields["frameRange"]) == ("0", "(none)", "(not given)")


def test_an_unreadable_timestamp_is_shown_as_it_is():
    assert readable_time("yesterday") == "yesterday"
    assert readable_time("") == "(not given)"


@pytest.mark.parametrize("format_name", rendering.formats())
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_every_template_renders_every_sample_readably(format_name, sample):
    body = render(format_name, message_fields(SAMPLES[sample]))
    assert_readable(shown_text(format_name, body))
    if format_name != rendering.EMAIL:
        json.loads(body)  # valid JSON, whatever the values hold
    assert re.search(r"\{[A-Za-z_]+\}", body) is None  # every placeholder filled


@pytest.mark.parametrize("format_name", rendering.formats())
def test_every_template_renders_alarms_readably(format_name):
    for notification in (ALARM, JOB_ALERT):
        assert_readable(shown_text(format_name, render(format_name, message_fields_of_alarm(notification))))


def test_json_values_are_escaped_by_the_encoder():
    body = json.loads(render("chat", message_fields(job_event(jobName='a "quoted"\nname\\'))))
    assert body["content"]["description"].startswith('*a "quoted"\nname\\*')


def test_an_unknown_placeholder_fails_at_load_time(tmp_path, monkeypatch):
    (tmp_path / "broken.json").write_text('{"text": "{jobNmae} is {status}"}')
    monkeypatch.setattr(rendering, "FORMATS", tmp_path)
    rendering.template.cache_clear()
    try:
        with pytest.raises(TemplateError, match=r"formats/broken.json names unknown fields \['jobNmae'\]"):
            rendering.template("broken")
    finally:
        rendering.template.cache_clear()


def test_an_unknown_format_names_the_known_ones():
    with pytest.raises(TemplateError, match="no template for the format 'fax'; the formats are chat, discord, email, google_chat, slack, teams"):
        render("fax", message_fields(job_event()))


@pytest.mark.parametrize(
    "job_name", ["shot010_lighting", "Éclairage — plan 12 ✨", "x" * 300, "tab\tand\nnewline", "✨✨✨"]
)
def test_the_subject_is_ascii_short_and_one_line(job_name):
    subject = render_subject(message_fields(job_event(jobName=job_name)))
    assert subject.isascii() and subject.isprintable()
    assert 0 < len(subject) < 100
    assert subject.startswith("Render Failed:")


def test_the_artists_request_has_a_readable_email_and_structured_json():
    request = artist_request(Delivery(ARTISTS_DESTINATION, event=job_event()))
    assert request["MessageStructure"] == "json"
    assert request["Subject"] == "Render Failed: shot010_lighting"
    bodies = json.loads(request["Message"])
    assert bodies["email"] == bodies["default"]
    for line in ("Job:         shot010_lighting (65e5d7a0c1b2d3e4f5a6b7c8)", "User:        amelie",
                 "Frames:      1-100", "Tasks:       10", "Errors:      3", "Reason:      Job has failed"):
        assert line in bodies["email"]
    for protocol in ("sqs", "lambda", "https"):
        structured = json.loads(bodies[protocol])
        assert structured == {**FULL_DETAIL, "title": "Render Failed: shot010_lighting"}


def test_attributes_are_strings_and_empty_ones_are_left_out():
    attributes = message_attributes({**FULL_DETAIL, "department": "", "batchName": None, "group": "  "})
    assert attributes == {
        "userName": {"DataType": "String", "StringValue": "amelie"},
        "status": {"DataType": "String", "StringValue": "Failed"},
        "pool": {"DataType": "String", "StringValue": "gpu"},
        "plugin": {"DataType": "String", "StringValue": "MayaBatch"},
    }
    assert message_attributes(BARE_DETAIL) == {"status": {"DataType": "String", "StringValue": "Completed"}}


def test_the_chat_request_is_q_developers_custom_notification():
    message = json.loads(chat_request(Delivery(CHAT_DESTINATION, event=job_event()))["Message"])
    assert (message["version"], message["source"]) == ("1.0", "custom")
    content = message["content"]
    assert content["textType"] == "client-markdown"
    assert content["title"] == "Render Failed: shot010_lighting"
    description = content["description"]
    order = [description.index(text) for text in ("shot010_lighting", "amelie", "Failed", "2024-03-04", "Job has")]
    assert order == sorted(order)  # job name first, then user, status, time and reason


def test_an_alarm_in_chat_reads_as_the_alarm():
    message = json.loads(chat_request(Delivery(CHAT_DESTINATION, notification=ALARM))["Message"])
    assert message["content"]["title"] == "ALARM: DeliveriesDeadLetterAlarm"
    assert "Threshold Crossed" in message["content"]["description"]
    alert = json.loads(chat_request(Delivery(CHAT_DESTINATION, notification=JOB_ALERT))["Message"])
    assert "of amelie is Failed" in alert["content"]["description"]


@pytest.mark.parametrize("value", ["off", "OFF", " Off "])
def test_a_job_opted_out_sends_no_artist_message(value):
    event = job_event(notifyOptOut=value)
    assert opted_out(Delivery(ARTISTS_DESTINATION, event=event))
    assert not opted_out(Delivery(CHAT_DESTINATION, event=event))  # chat still gets it


@pytest.mark.parametrize("value", [None, "", "on", "offline", True])
def test_anything_but_off_is_no_opt_out(value):
    assert not opted_out(Delivery(ARTISTS_DESTINATION, event=job_event(notifyOptOut=value)))


def test_a_rules_wrapper_goes_to_its_destination():
    event = job_event()
    assert deliveries_of(wrapped(ARTISTS, event), DESTINATIONS) == [Delivery(ARTISTS_DESTINATION, event=event)]


def test_an_alarm_notification_goes_to_every_destination_with_alarms():
    assert deliveries_of(json.dumps(ALARM), DESTINATIONS) == [Delivery(CHAT_DESTINATION, notification=ALARM)]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"hello": 1}', "neither a rule's"),
        (wrapped("nobody", job_event()), "'nobody' is not one of the sender's (artists, wranglers)"),
        (json.dumps({"destination": ARTISTS, "event": {"detail": "x"}}), "no detail object"),
        (json.dumps({"Type": "Notification", "TopicArn": "arn"}), "without MessageId or Message"),
    ],
)
def test_a_bad_record_says_why(body, reason):
    with pytest.raises(BadRecord, match=re.escape(reason)):
        deliveries_of(body, DESTINATIONS)


def test_destinations_round_trip_through_the_environment():
    variable = {"DELIVERY_DESTINATIONS": encode_destinations(list(DESTINATIONS.values()))}
    assert destinations_from_environment(variable) == DESTINATIONS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "DELIVERY_DESTINATIONS is not set"),
        ("{", "is not a JSON list of destinations"),
        ('{"name": "x"}', "is not a JSON list of destinations"),
        ('[{"name": "x"}]', "is not a JSON list of destinations"),
        ('[{"name": "x", "kind": "fax", "target": "t", "format": "f"}]', "have no kind of artists, chat, webhook"),
    ],
)
def test_a_bad_destinations_variable_names_it(value, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        destinations_from_environment({} if value is None else {"DELIVERY_DESTINATIONS": value})


def test_a_bad_record_is_a_batch_item_failure_logged_with_its_reason():
    log = io.StringIO()
    sender = Sender(DESTINATIONS, state=None, send={}, log_stream=log)  # type: ignore[arg-type]  # never reached
    result = sender.handle({"Records": [sqs_message("not json", "m-1")]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert {"level": "ERROR", "event": "bad_record", "messageId": "m-1", "reason": "the body is not JSON"} in lines
    assert lines[-1]["BadRecords"] == 1


def test_an_opted_out_job_is_counted_and_never_claimed():
    log = io.StringIO()
    sender = Sender(DESTINATIONS, state=None, send={}, log_stream=log)  # type: ignore[arg-type]  # never reached
    event = job_event(notifyOptOut="off")
    assert sender.handle({"Records": [sqs_message(wrapped(ARTISTS, event))]}) == {"batchItemFailures": []}
    assert json.loads(log.getvalue().splitlines()[-1])["OptedOut"] == 1


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "DELIVERY_DESTINATIONS is not set"),
        ({"DELIVERY_DESTINATIONS": "[]"}, "set DELIVERY_STATE_TABLE (a table name) and DELIVERY_LEASE_SECONDS"),
        ({"DELIVERY_DESTINATIONS": "[]", "DELIVERY_STATE_TABLE": "t", "DELIVERY_LEASE_SECONDS": "soon"},
         "DELIVERY_LEASE_SECONDS (whole seconds)"),
    ],
)
def test_the_sender_names_a_missing_setting(environment, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        sender_from_environment(environment, dynamodb=object(), sns=object())
