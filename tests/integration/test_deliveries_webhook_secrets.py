"""The webhook poster reads its URL and auth header from Secrets Manager (moto's server), cached 5 minutes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from deliveries.webhooks import SECRET_CACHE_SECONDS, SecretCache, WebhookError, WebhookPoster
from local_pipeline.engines import local_client
from local_pipeline.webhook_receiver import WebhookReceiver


@dataclass(frozen=True)
class SecretWebhook:
    name: str
    target: str  # the URL secret's id
    url_is_secret: bool = True
    auth_header: str | None = None
    auth_secret: str | None = None


@pytest.fixture
def secrets(local_sqs):
    """moto's Secrets Manager (the same server as the local SQS)."""
    return local_client("secretsmanager", local_sqs.endpoint_url)


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


def secret(secrets, value: str) -> str:
    name = f"deadline/webhooks/test-{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=name, SecretString=value)
    return name


def test_the_url_and_the_auth_header_come_from_their_secrets(secrets, receiver):
    url_secret = secret(secrets, receiver.url("tracker") + "\n")
    auth_secret = secret(secrets, "Bearer s3cr3t")
    webhook = SecretWebhook("tracker", url_secret, auth_header="Authorization", auth_secret=auth_secret)

    WebhookPoster(SecretCache(secrets), loopback_http=True).post(webhook, "{}")

    (request,) = receiver.received("tracker")
    assert request.headers["Authorization"] == "Bearer s3cr3t"


def test_a_secret_is_read_again_only_after_five_minutes(secrets, receiver):
    name = secret(secrets, receiver.url("old"))
    now = [0.0]
    poster = WebhookPoster(SecretCache(secrets, clock=lambda: now[0]), loopback_http=True, clock=lambda: now[0])
    webhook = SecretWebhook("slack", name)

    poster.post(webhook, "{}")
    secrets.put_secret_value(SecretId=name, SecretString=receiver.url("rotated"))
    now[0] += SECRET_CACHE_SECONDS - 1
    poster.post(webhook, "{}")
    now[0] += 2
    poster.post(webhook, "{}")

    assert receiver.counts() == {"old": 2, "rotated": 1}


def test_a_missing_secret_fails_without_a_retry_and_names_the_webhook(secrets):
    poster = WebhookPoster(SecretCache(secrets), loopback_http=True)

    with pytest.raises(
        WebhookError, match="webhook slack: reading its secret failed: ResourceNotFoundException"
    ) as raised:
        poster.post(SecretWebhook("slack", "deadline/webhooks/never-created"), "{}")

    assert not raised.value.retryable
