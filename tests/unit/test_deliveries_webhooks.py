"""The webhook poster against a local HTTP receiver on 127.0.0.1: answers, timeouts, redirects, pacing."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from deliveries.webhooks import MIN_SECONDS_BETWEEN_POSTS, SecretCache, WebhookError, WebhookPoster
from local_pipeline.webhook_receiver import WebhookReceiver

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
