"""Webhooks on the local engines: why API destinations need a stand-in (moto's EventBridge calls one without
the event and without the connection's header), the stand-in itself, and the real sender posting every
format to the local receiver through moto's secrets, each change once; the demo's per-webhook check."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

from deliveries.destinations import WEBHOOK, Destination
from deliveries.sender import Sender
from deliveries.state import DeliveryState
from local_pipeline.event_check import PublishedEvent
from local_pipeline.spec import WebhookSpec
from local_pipeline.webhook_receiver import WebhookReceiver
from local_pipeline.webhooks import LocalWebhooks, local_secret_value, webhook_reports
from stacks.destinations import event_pattern
from status_events.changes import SOURCE
from tests.unit.deliveries_support import job_event, sqs_message, wrapped

JOB_TYPE = "Deadline Job Status Change"


def until(condition, timeout: float = 60):
    """Wait for ``condition()`` to be true, up to ``timeout`` seconds; its last value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def post(url: str, body: str) -> None:
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def put(events, bus: str, *details: dict) -> None:
    events.put_events(Entries=[
        {"Source": SOURCE, "DetailType": JOB_TYPE, "Detail": json.dumps(detail), "EventBusName": bus}
        for detail in details
    ])  # fmt: skip


def detail(status: str, number: int, **more) -> dict:
    return {"jobId": f"job-{number}", "jobName": f"shot{number:03d}", "status": status,
            "timestamp": f"2024-03-04T15:02:{number:02d}.0000000Z", "eventId": f"{number:032x}", **more}  # fmt: skip


def api_webhook(name: str = "tracker", **changes) -> WebhookSpec:
    fields = dict(name=name, format="json", event_pattern=event_pattern(statuses=("Failed",)), api_destination=True,
                  target="https://tracker.example.com/hook", url_is_secret=False, auth_header="X-Api-Key",
                  auth_secret=f"deadline/webhooks/{name}-{uuid.uuid4().hex[:6]}", auth_value=None)  # fmt: skip
    return WebhookSpec(**{**fields, **changes})


@pytest.fixture
def bus(local_sqs):
    name = f"webhooks-{uuid.uuid4().hex[:8]}"
    local_sqs.events_client().create_event_bus(Name=name)
    return name


def test_moto_calls_an_api_destination_without_the_event_or_the_connection_header(local_sqs, bus, monkeypatch):
    """If this fails, moto posts what EventBridge posts and the stand-in can go."""
    monkeypatch.setenv("MOTO_EVENTS_INVOKE_HTTP", "true")
    events = local_sqs.events_client()
    with WebhookReceiver() as receiver:
        connection = events.create_connection(
            Name=f"probe-{bus}", AuthorizationType="API_KEY",
            AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Api-Key", "ApiKeyValue": "probe"}},
        )["ConnectionArn"]  # fmt: skip
        destination = events.create_api_destination(
            Name=f"probe-{bus}", ConnectionArn=connection, InvocationEndpoint=receiver.url("probe"), HttpMethod="POST"
        )["ApiDestinationArn"]
        events.put_rule(Name="probe", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(Rule="probe", EventBusName=bus, Targets=[{"Id": "api", "Arn": destination}])
        put(events, bus, detail("Failed", 1))
        (request,) = until(lambda: receiver.received("probe"))

    assert request.body == b""
    assert "X-Api-Key" not in request.headers


def test_the_stand_in_posts_each_matching_event_as_it_is_with_the_connections_header(local_sqs, bus):
    events = local_sqs.events_client()
    webhook = api_webhook()
    failed, completed = detail("Failed", 1), detail("Completed", 2)
    with LocalWebhooks([webhook], endpoint_url=local_sqs.endpoint_url, bus_name=bus) as local:
        put(events, bus, failed, completed)
        assert local.wait_until_delivered(60)
        (request,) = local.receiver.received("tracker")

    body = json.loads(request.body)
    assert (body["source"], body["detail-type"], body["detail"]) == (SOURCE, JOB_TYPE, failed)
    assert request.headers["X-Api-Key"] == local_secret_value(webhook)
    published = [PublishedEvent(JOB_TYPE, each) for each in (failed, completed)]
    (report,) = webhook_reports([webhook], published, local.receiver)
    assert (report.expected, report.received, report.problems) == (1, 1, [])


def test_the_stand_in_retries_what_the_receiver_refuses(local_sqs, bus):
    webhook = api_webhook(auth_header="X-Deadline-Sqs-Studio", auth_secret=None, auth_value="default")
    with LocalWebhooks([webhook], endpoint_url=local_sqs.endpoint_url, bus_name=bus) as local:
        local.receiver.answer("tracker", [503])
        put(local_sqs.events_client(), bus, detail("Failed", 3))
        assert until(lambda: len(local.receiver.received("tracker")) == 2)

    assert local.stand_in and local.stand_in.failures["tracker"] == 1
    assert {r.headers["X-Deadline-Sqs-Studio"] for r in local.receiver.received("tracker")} == {"default"}


FORMATS = ("slack", "teams", "discord", "google_chat", "json")


def test_the_sender_posts_every_format_once_per_change_through_the_local_secrets(
    local_sqs, dynamodb_local, state_table, bus
):
    suffix = uuid.uuid4().hex[:6]
    webhooks = [
        WebhookSpec(f"hook-{name.replace('_', '-')}", name, event_pattern(), False, f"deadline/webhooks/{name}-{suffix}",
                    True, None, None, None)
        for name in FORMATS
    ]  # fmt: skip
    destinations = {
        w.name: Destination(name=w.name, kind=WEBHOOK, target=w.target, format=w.format, url_is_secret=True)
        for w in webhooks
    }
    first, second = job_event(**detail("Failed", 4)), job_event(**detail("Completed", 5))
    with LocalWebhooks(webhooks, endpoint_url=local_sqs.endpoint_url, bus_name=bus) as local:
        state = DeliveryState(dynamodb_local.client(), state_table, lease_seconds=30)
        sender = Sender(destinations, state, {WEBHOOK: local.poster().deliver})
        records = [sqs_message(wrapped(name, event)) for name in destinations for event in (first, second, first)]
        assert sender.handle({"Records": records}) == {"batchItemFailures": []}
        reports = webhook_reports(
            webhooks, [PublishedEvent(JOB_TYPE, e["detail"]) for e in (first, second)], local.receiver
        )

    assert [(r.name, r.expected, r.received, r.problems) for r in reports] == [
        (w.name, 2, 2, []) for w in webhooks
    ]


def test_the_check_names_a_repeat_a_gap_and_a_payload_in_no_format():
    webhook = WebhookSpec("slack", "slack", event_pattern(), False, "s", True, None, None, None)
    events = [PublishedEvent(JOB_TYPE, detail(status, n)) for n, status in enumerate(("Failed", "Completed"), 1)]
    with WebhookReceiver() as receiver:
        for body in ({"blocks": [], "text": f"x event {1:032x}"}, {"blocks": [], "text": f"x event {1:032x}"}, {"no": 1}):
            post(receiver.url("slack"), json.dumps(body))
        (report,) = webhook_reports([webhook], events, receiver)

    assert report.problems == [
        "webhook slack: payload 2 is no slack body of an event",
        f"webhook slack: event {1:032x} sent 2 times",
        f"webhook slack: no payload of event {2:032x} (Deadline Job Status Change, Completed)",
    ]


def test_an_older_change_the_sender_drops_is_no_gap():
    webhook = WebhookSpec("slack", "slack", event_pattern(), False, "s", True, None, None, None)
    older, newer = detail("Failed", 6), {**detail("Completed", 7), "jobId": "job-6"}
    with WebhookReceiver() as receiver:
        post(receiver.url("slack"), json.dumps({"blocks": [], "text": f"event {newer['eventId']}"}))
        (report,) = webhook_reports([webhook], [PublishedEvent(JOB_TYPE, e) for e in (older, newer)], receiver)

    assert (report.problems, report.dropped_as_older) == ([], 1)
