"""Webhooks: one HTTPS POST of a rendered body, the URL and the auth header read at send time.

- The URL is the destination's `target`: a Secrets Manager secret's id (`url_is_secret`) whose
  SecretString is the URL, or the plain URL of an endpoint that carries no token. An optional
  header (`auth_header`) gets the SecretString of `auth_secret`. Secret values are read with
  GetSecretValue when needed and kept SECRET_CACHE_SECONDS per secret id in the container, so a
  rotated URL is used within minutes and a busy webhook costs one read per 5 minutes.
- The answer: 2xx is sent; 429, 5xx, a timeout or a connection failure is worth a retry (the
  record fails and SQS delivers it again); any other status (a 4xx, a redirect, which is never
  followed) will not get better (the record fails too, and reaches the dead-letter queue after the
  redrive count). Both raise WebhookError, whose text names the destination and the status only.
- Nothing here logs or raises with a URL, a header value or a response body (a receiver's error
  page may quote the URL's path, where the token is).
- Pacing: at most one POST per MIN_SECONDS_BETWEEN_POSTS per webhook in a container; with the
  event source's maximum concurrency, that bounds the rate a webhook sees. After a failure worth a
  retry, the webhook's next deliveries in the container fail at once for BACKOFF_SECONDS (retried by
  SQS later), so a slow or throttling endpoint neither gets more load nor holds a batch up to its timeout.
- The body: format `json` is the event as it is; every other format is its template
  (formats/<format>.json) rendered with the event's fields, each field first cut to what the
  service accepts (FIELD_LIMITS), so a long job name or reason never makes a post fail.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .envelope import Delivery
from .message import message_fields
from .rendering import render

POST_TIMEOUT_SECONDS = 3
SECRET_CACHE_SECONDS = 300
MIN_SECONDS_BETWEEN_POSTS = 1.0
BACKOFF_SECONDS = 10.0
USER_AGENT = "deadline-sqs-notifications"
TOO_MANY_REQUESTS = 429
LOOPBACK_HOST = "127.0.0.1"
# Secrets Manager's answers that another try may fix; any other error is the configuration's.
RETRYABLE_SECRET_ERRORS = frozenset({"ThrottlingException", "InternalServiceError", "RequestTimeout"})
JSON_FORMAT = "json"  # the event as it is (stacks.destinations.JSON_FORMAT)
# Each field's most characters in a format's body: the services refuse longer text (Slack: a header's
# 150; Discord: an embed's title 256, a field's value 1024, all of an embed's text 6000).
MAX_FIELD = 1000
FIELD_LIMITS = {"slack": {"title": 150}, "discord": {"title": 256, "statusReason": 1000, "*": 200}}
ELLIPSIS = "…"
SECRETS_CLIENT_OPTIONS = {
    "retries": {"mode": "standard", "total_max_attempts": 2},
    "connect_timeout": 1,
    "read_timeout": 3,
}


class WebhookTarget(Protocol):
    """What the poster reads of a destination (deliveries.destinations.Destination)."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def url_is_secret(self) -> bool: ...
    @property
    def auth_header(self) -> str | None: ...
    @property
    def auth_secret(self) -> str | None: ...


class WebhookError(RuntimeError):
    """A POST that did not succeed; `retryable` says whether another try may. Never holds a URL."""

    def __init__(self, destination: str, reason: str, *, retryable: bool, status: int | None = None):
        self.reason = f"{reason} ({'will retry' if retryable else 'will not retry'})"
        super().__init__(f"webhook {destination}: {self.reason}")
        self.destination = destination
        self.retryable = retryable
        self.status = status


def webhook_body(event: dict, format_name: str) -> str:
    """The body posted for ``event``: the event itself (json), or the format's rendered template."""
    if format_name == JSON_FORMAT:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    limits = FIELD_LIMITS.get(format_name, {})
    fields = {
        name: _clip(value, limits.get(name, limits.get("*", MAX_FIELD)))
        for name, value in message_fields(event).items()
    }
    return render(format_name, fields)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def secrets_client():
    """The sender's Secrets Manager client: endpoint, region and credentials from boto3's configuration."""
    return boto3.client("secretsmanager", config=Config(**SECRETS_CLIENT_OPTIONS))


@dataclass
class _Cached:
    value: str
    read_at: float


class SecretCache:
    """SecretString by secret id, each read again after `max_age` seconds."""

    def __init__(self, client, *, clock: Callable[[], float] = time.monotonic, max_age: float = SECRET_CACHE_SECONDS):
        self._client = client
        self._clock = clock
        self._max_age = max_age
        self._values: dict[str, _Cached] = {}

    def value(self, secret_id: str, destination: str) -> str:
        now = self._clock()
        cached = self._values.get(secret_id)
        if cached is not None and now - cached.read_at < self._max_age:
            return cached.value
        try:
            value = self._client.get_secret_value(SecretId=secret_id).get("SecretString")
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise WebhookError(
                destination, f"reading its secret failed: {code}", retryable=code in RETRYABLE_SECRET_ERRORS
            ) from None
        except BotoCoreError as error:
            raise WebhookError(
                destination, f"reading its secret failed: {type(error).__name__}", retryable=True
            ) from None
        if not isinstance(value, str) or not value.strip():
            raise WebhookError(
                destination, "its secret holds no SecretString (store the value as text)", retryable=False
            )
        self._values[secret_id] = _Cached(value.strip(), now)
        return value.strip()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the error it is for a webhook: never followed (it could leave TLS)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookPoster:
    """POSTs bodies to webhooks, paced per webhook.

    ``loopback_http`` also allows ``http://127.0.0.1`` URLs, and ``min_interval`` shortens the pacing: for the
    local pipeline's receiver only; the Lambda handler sets neither, so a deployed sender posts over TLS, at
    most once per MIN_SECONDS_BETWEEN_POSTS per webhook.
    """

    def __init__(
        self,
        secrets: SecretCache,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = POST_TIMEOUT_SECONDS,
        loopback_http: bool = False,
        min_interval: float = MIN_SECONDS_BETWEEN_POSTS,
    ):
        self._secrets = secrets
        self._clock = clock
        self._sleep = sleep
        self._timeout = timeout
        self._loopback_http = loopback_http
        self._min_interval = min_interval
        self._last_post: dict[str, float] = {}
        self._backoff_until: dict[str, float] = {}
        self._opener = urllib.request.build_opener(
            _NoRedirects(), urllib.request.HTTPSHandler(context=ssl.create_default_context())
        )

    def deliver(self, delivery: Delivery) -> None:
        """The sender's send function for webhooks: the event's body, posted."""
        self.post(delivery.destination, webhook_body(delivery.event or {}, delivery.destination.format))

    def post(self, destination: WebhookTarget, body: str) -> int:
        """POST `body` (JSON) to the destination's webhook; its HTTP status, or WebhookError."""
        url = (
            self._secrets.value(destination.target, destination.name)
            if destination.url_is_secret
            else destination.target
        )
        self._check_url(url, destination.name)
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        if destination.auth_header and destination.auth_secret:
            headers[destination.auth_header] = self._secrets.value(destination.auth_secret, destination.name)
        request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
        if self._clock() < self._backoff_until.get(destination.name, 0.0):
            raise WebhookError(destination.name, "backing off after a failure", retryable=True)
        self._pace(destination.name)
        try:
            return self._send(request, destination.name)
        except WebhookError as error:
            if error.retryable:
                self._backoff_until[destination.name] = self._clock() + BACKOFF_SECONDS
            raise

    def _send(self, request: urllib.request.Request, name: str) -> int:
        """The POST's status; WebhookError for any other answer or failure."""
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.close()
            retryable = error.code == TOO_MANY_REQUESTS or error.code >= 500
            raise WebhookError(name, f"HTTP {error.code}", retryable=retryable, status=error.code) from None
        except urllib.error.URLError as error:
            raise WebhookError(name, _failure(error.reason), retryable=True) from None
        except (TimeoutError, OSError) as error:
            raise WebhookError(name, _failure(error), retryable=True) from None

    def _check_url(self, url: str, destination: str) -> None:
        parts = urlsplit(url)
        secure = parts.scheme == "https" and bool(parts.hostname)
        loopback = self._loopback_http and parts.scheme == "http" and parts.hostname == LOOPBACK_HOST
        if not (secure or loopback):
            raise WebhookError(destination, "its URL is not an https:// URL (fix the secret or url)", retryable=False)

    def _pace(self, destination: str) -> None:
        last = self._last_post.get(destination)
        if last is not None:
            wait = last + self._min_interval - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_post[destination] = self._clock()


def _failure(reason: object) -> str:
    """A failed connection in words that hold no URL or host name: the kind and the system's reason."""
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason.reason or type(reason).__name__}"
    if isinstance(reason, OSError) and reason.strerror:
        return f"connection failed: {reason.strerror}"
    return f"connection failed: {type(reason).__name__}"
