"""Webhooks: the poster against a local HTTP receiver on 127.0.0.1 (answers, timeouts, redirects, pacing)
and each format's body."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from deliveries.webhooks import (
    BACKOFF_SECONDS,
    MIN_SECONDS_BETWEEN_POSTS,
    SecretCache,
    WebhookError,
    WebhookPoster,
    webhook_body,
)
from local_pipeline.webhook_receiver import WebhookReceiver
from tests.unit.deliveries_support import BARE_DETAIL, job_event

BODY = json.dumps({"text": "Render Completed: shot_010"})


@dataclass(frozen=True)
class PlainWebhook:
    """A webhook with a plain URL (the fields of deliveries.destinations.Destination the poster reads)."""

    name: str
    target: str
    url_is_secret: bool = False
    auth_header: str | None = None
    auth_secret: str | None = None


class NoSecrets:
    def get_secret_value(self, **_):
        raise AssertionError("a plain URL needs no secret")


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def poster(**options) -> WebhookPoster:
    return WebhookPoster(SecretCache(NoSecrets()), loopback_http=True, **options)


def test_a_post_sends_the_body_as_json_and_returns_the_status(receiver):
    status = poster().post(PlainWebhook("tracker", receiver.url("tracker")), BODY)

    (request,) = receiver.received("tracker")
    assert status == 200
    assert json.loads(request.body) == json.loads(BODY)
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_throttling_and_server_errors_are_retryable(receiver, status):
    receiver.answer("slack", [status])

    with pytest.raises(WebhookError) as raised:
        poster().post(PlainWebhook("slack", receiver.url("slack")), BODY)

    assert raised.value.retryable and raised.value.status == status


@pytest.mark.parametrize("status", [400, 403, 404, 410, 301, 302, 307])
def test_client_errors_and_redirects_are_permanent(receiver, status):
    receiver.answer("slack", [status])

    with pytest.raises(WebhookError) as raised:
        poster().post(PlainWebhook("slack", receiver.url("slack")), BODY)

    assert not raised.value.retryable and raised.value.status == status


def test_a_slow_endpoint_times_out_as_retryable(receiver):
    receiver.answer("slow", [200], delay=2.0)

    with pytest.raises(WebhookError, match="timed out") as raised:
        poster(timeout=0.3).post(PlainWebhook("slow", receiver.url("slow")), BODY)

    assert raised.value.retryable


def test_a_refused_connection_is_retryable():
    with WebhookReceiver() as gone:
        url = gone.url("closed")  # the port is free again once the receiver stopped

    with pytest.raises(WebhookError, match="connection failed") as raised:
        poster().post(PlainWebhook("closed", url), BODY)

    assert raised.value.retryable


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://hooks.example.com/x", "ftp://example.com/x", "x"])
def test_only_https_urls_are_posted_to_without_the_local_override(url):
    deployed = WebhookPoster(SecretCache(NoSecrets()))

    with pytest.raises(WebhookError, match="not an https:// URL") as raised:
        deployed.post(PlainWebhook("tracker", url), BODY)

    assert not raised.value.retryable


def test_the_local_override_allows_plain_http_to_the_loopback_address_only():
    with pytest.raises(WebhookError, match="not an https:// URL"):
        poster().post(PlainWebhook("tracker", "http://localhost:9/x"), BODY)


def test_an_error_never_shows_the_url(receiver):
    token_url = receiver.url("T000/B000/secret-token-value")
    receiver.answer("T000/B000/secret-token-value", [404])

    with pytest.raises(WebhookError) as raised:
        poster().post(PlainWebhook("slack", token_url), BODY)

    assert "secret-token-value" not in str(raised.value)
    assert str(raised.value) == "webhook slack: HTTP 404 (will not retry)"


def test_posts_to_one_webhook_are_paced_and_other_webhooks_are_not(receiver):
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    paced = poster(clock=lambda: now[0], sleep=sleep)
    paced.post(PlainWebhook("slack", receiver.url("slack")), BODY)
    now[0] += 0.25
    paced.post(PlainWebhook("slack", receiver.url("slack")), BODY)
    paced.post(PlainWebhook("discord", receiver.url("discord")), BODY)
    now[0] += 5
    paced.post(PlainWebhook("slack", receiver.url("slack")), BODY)

    assert waits == [pytest.approx(MIN_SECONDS_BETWEEN_POSTS - 0.25)]
    assert receiver.counts() == {"slack": 3, "discord": 1}


# Each format's body: what its service requires, job name first, readable with missing fields, within limits.
EVENTS = {
    "full": job_event(),
    "bare": job_event(BARE_DETAIL),
    "long": job_event(jobName="shot_" + "x" * 3000, statusReason="why " * 800, userName="u" * 900),
}


def strings_of(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for each in value.values() for text in strings_of(each)]
    if isinstance(value, list):
        return [text for each in value for text in strings_of(each)]
    return []


@pytest.mark.parametrize("sample", sorted(EVENTS))
@pytest.mark.parametrize("format_name", ["slack", "teams", "discord", "google_chat"])
def test_every_webhook_format_renders_readable_json_without_gaps(format_name, sample):
    body = json.loads(webhook_body(EVENTS[sample], format_name))

    texts = strings_of(body)
    assert all(text.strip() for text in texts)
    assert not any(word in text for text in texts for word in ("null", "None", "{}", "[]", "()"))


def test_slack_is_blocks_with_plain_text_and_a_fallback_that_cannot_mention():
    body = json.loads(webhook_body(EVENTS["long"], "slack"))

    assert body["mrkdwn"] is False and body["text"].startswith("shot_x")
    header = body["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    assert {field["type"] for block in body["blocks"] for field in block.get("fields", [])} == {"plain_text"}
    assert body["blocks"][1]["fields"][0]["text"].startswith("Job: shot_x")


def test_teams_is_an_adaptive_card_for_a_workflows_webhook():
    body = json.loads(webhook_body(EVENTS["full"], "teams"))

    (attachment,) = body["attachments"]
    card = attachment["content"]
    assert body["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Render Failed: shot010_lighting"
    facts = [(fact["title"], fact["value"]) for fact in card["body"][1]["facts"]]
    assert facts[:5] == [
        ("Job", "shot010_lighting"), ("User", "amelie"), ("Status", "Failed (was Active)"),
        ("Time", "2024-03-04 15:02:11 UTC"), ("Reason", "Job has failed"),
    ]  # fmt: skip


def test_discord_is_an_embed_within_discords_limits_that_mentions_nobody():
    body = json.loads(webhook_body(EVENTS["long"], "discord"))

    (embed,) = body["embeds"]
    assert body["allowed_mentions"] == {"parse": []}
    assert len(embed["title"]) <= 256 and all(len(field["value"]) <= 1024 for field in embed["fields"])
    assert len(strings_of(embed)) and sum(map(len, strings_of(embed))) <= 6000
    assert embed["fields"][0]["value"].endswith("…")


def test_google_chat_is_a_card_with_the_job_first():
    body = json.loads(webhook_body(EVENTS["bare"], "google_chat"))

    card = body["cardsV2"][0]["card"]
    assert card["header"] == {"title": "Render Completed: 65e5d7a0c1b2d3e4f5a6b7c9", "subtitle": "(unknown user)"}
    assert card["sections"][0]["widgets"][0]["decoratedText"]["topLabel"] == "Job"


def test_json_is_the_event_as_it_is():
    event = EVENTS["full"]
    assert json.loads(webhook_body(event, "json")) == event


def test_after_a_retryable_failure_the_webhook_backs_off_without_posting(receiver):
    now = [0.0]
    paced = poster(clock=lambda: now[0], sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))
    webhook = PlainWebhook("slack", receiver.url("slack"))
    receiver.answer("slack", [503])
    with pytest.raises(WebhookError):
        paced.post(webhook, BODY)

    now[0] += BACKOFF_SECONDS - 1
    with pytest.raises(WebhookError, match="backing off after a failure") as raised:
        paced.post(webhook, BODY)
    assert raised.value.retryable and len(receiver.received("slack")) == 1
    paced.post(PlainWebhook("discord", receiver.url("discord")), BODY)  # other webhooks post meanwhile
    now[0] += 2
    assert paced.post(webhook, BODY) == 200


def test_a_permanent_failure_does_not_back_off(receiver):
    receiver.answer("slack", [400])
    webhook = PlainWebhook("slack", receiver.url("slack"))
    once = poster()
    with pytest.raises(WebhookError):
        once.post(webhook, BODY)
    assert once.post(webhook, BODY) == 200
