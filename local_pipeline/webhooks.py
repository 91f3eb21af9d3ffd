"""The stack's webhooks on the local pipeline: every webhook posts to a local HTTP receiver, and the demo
checks what each received against the status-change events.

- The sender's webhooks: their URL secrets are moto's Secrets Manager's, holding the receiver's URL of
  each webhook (a header's secret holds a local sample value); the real sender posts with a
  WebhookPoster that may reach ``http://127.0.0.1`` and paces LOCAL_POST_INTERVAL apart (the local
  override; the Lambda handler has neither). A webhook with a plain URL gets the receiver's URL in
  its place, in the sender's local environment only.
- STAND-IN for API destinations: moto's EventBridge calls an API destination without the event as its
  body and without the connection's header (only with MOTO_EVENTS_INVOKE_HTTP; probed in
  tests/integration/test_local_webhooks.py). So each such webhook's rule, with its deployed pattern,
  targets a local queue instead (no input transformer: the event as it is, the body EventBridge
  posts), and ApiDestinationStandIn posts each event from it to the receiver with the connection's
  header, as EventBridge would (retrying what the receiver refuses; no rate limit locally).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

from deadline_sqs.sending import queue_arn, queue_depth
from deliveries.destinations import DESTINATIONS_VARIABLE
from deliveries.webhooks import JSON_FORMAT, SecretCache, WebhookPoster
from local_pipeline.engines import local_client
from local_pipeline.event_check import PublishedEvent
from local_pipeline.spec import WebhookSpec
from local_pipeline.webhook_receiver import WebhookReceiver
from status_events.changes import SOURCE

LOCAL_POST_INTERVAL = 0.01  # s between one webhook's posts (1 s on AWS): the receiver is no rate-limited service
STAND_IN_RULE_PREFIX = "local-api-destination-"
STAND_IN_TIMEOUT = 3  # s per POST, as the sender's
# The event id every format shows ("event <id>" in its footer); a json body carries it as detail.eventId.
EVENT_ID = re.compile(r"\bevent ([0-9a-f]{32})\b")
# What each format's body must hold, to be taken for one.
FORMAT_KEYS = {"slack": "blocks", "teams": "attachments", "discord": "embeds", "google_chat": "cardsV2", "json": "detail"}


def local_secret_value(webhook: WebhookSpec) -> str:
    """The sample value locally behind a webhook's header secret (the receiver checks it is sent)."""
    return f"local-{webhook.name}-key"


class LocalWebhooks:
    """As a context manager: the receiver, the webhooks' secrets on moto and the API destinations' stand-in."""

    def __init__(self, webhooks: Sequence[WebhookSpec], *, endpoint_url: str, bus_name: str):
        self.webhooks = list(webhooks)
        self.bus_name = bus_name
        self.receiver = WebhookReceiver()
        self._endpoint_url = endpoint_url
        self._secrets = local_client("secretsmanager", endpoint_url)
        self._exit = ExitStack()
        self.stand_in: ApiDestinationStandIn | None = None

    def __enter__(self) -> LocalWebhooks:
        try:
            self._exit.enter_context(self.receiver)
            for webhook in self.webhooks:
                if webhook.url_is_secret:
                    self._put_secret(webhook.target, self.receiver.url(webhook.name))
                if webhook.auth_secret:
                    self._put_secret(webhook.auth_secret, local_secret_value(webhook))
            api = [webhook for webhook in self.webhooks if webhook.api_destination]
            if api:
                self.stand_in = self._exit.enter_context(
                    ApiDestinationStandIn(api, self.receiver, endpoint_url=self._endpoint_url, bus_name=self.bus_name)
                )
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._exit.close()

    def _put_secret(self, secret_id: str, value: str) -> None:
        # moto's state belongs to the process: an earlier local stack in it may have made the secret.
        try:
            self._secrets.create_secret(Name=secret_id, SecretString=value)
        except self._secrets.exceptions.ResourceExistsException:
            self._secrets.put_secret_value(SecretId=secret_id, SecretString=value)

    def poster(self) -> WebhookPoster:
        """The sender's poster, with the local override: the receiver's plain http, paced LOCAL_POST_INTERVAL."""
        return WebhookPoster(SecretCache(self._secrets), loopback_http=True, min_interval=LOCAL_POST_INTERVAL)

    def sender_environment(self, environment: dict[str, str]) -> dict[str, str]:
        """The sender's environment with each plain-URL webhook's URL replaced by the receiver's."""
        destinations = json.loads(environment[DESTINATIONS_VARIABLE])
        plain = {webhook.name for webhook in self.webhooks if not webhook.api_destination and not webhook.url_is_secret}
        for each in destinations:
            if each["name"] in plain:
                each["target"] = self.receiver.url(each["name"])
        return {**environment, DESTINATIONS_VARIABLE: json.dumps(destinations)}

    def wait_until_delivered(self, timeout: float) -> bool:
        """Whether the stand-in posted everything its rules received within ``timeout`` seconds (True without one)."""
        return self.stand_in is None or self.stand_in.wait_until_idle(timeout)


class ApiDestinationStandIn:
    """STAND-IN for EventBridge's API destinations (see the module's docstring): a rule per webhook on the
    local bus with its deployed pattern, to a queue; a thread posting each queued event to the receiver."""

    def __init__(self, webhooks: Sequence[WebhookSpec], receiver: WebhookReceiver, *, endpoint_url: str, bus_name: str):
        self.webhooks = {webhook.name: webhook for webhook in webhooks}
        self.receiver = receiver
        self.failures: Counter = Counter()  # refused or failed POSTs, retried from the queue
        self._sqs = local_client("sqs", endpoint_url)
        self._events = local_client("events", endpoint_url)
        self._secrets = local_client("secretsmanager", endpoint_url)
        self._bus_name = bus_name
        self._queues: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ApiDestinationStandIn:
        for name, webhook in self.webhooks.items():
            url = self._sqs.create_queue(QueueName=f"{self._bus_name}-{STAND_IN_RULE_PREFIX}{name}")["QueueUrl"]
            self._queues[name] = url
            rule = STAND_IN_RULE_PREFIX + name
            self._events.put_rule(Name=rule, EventBusName=self._bus_name, EventPattern=json.dumps(webhook.event_pattern))
            self._events.put_targets(
                Rule=rule, EventBusName=self._bus_name, Targets=[{"Id": "local", "Arn": queue_arn(self._sqs, url)}]
            )
        self._thread = threading.Thread(target=self._run, name="api-destination-stand-in", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _header(self, webhook: WebhookSpec) -> dict[str, str]:
        if webhook.auth_header is None:
            return {}
        if webhook.auth_secret:
            return {webhook.auth_header: self._secrets.get_secret_value(SecretId=webhook.auth_secret)["SecretString"]}
        return {webhook.auth_header: webhook.auth_value or ""}

    def _run(self) -> None:
        headers = {name: self._header(webhook) for name, webhook in self.webhooks.items()}
        while not self._stop.is_set():
            idle = True
            for name, url in self._queues.items():
                messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2)
                for message in messages.get("Messages", []):
                    idle = False
                    if self._post(name, message["Body"], headers[name]):
                        self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if idle:
                self._stop.wait(0.05)

    def _post(self, name: str, body: str, headers: dict[str, str]) -> bool:
        request = urllib.request.Request(
            self.receiver.url(name), data=body.encode(), method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", **headers},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=STAND_IN_TIMEOUT) as response:
                return 200 <= response.status < 300
        except OSError:  # refused, failed or timed out: EventBridge retries it; here the queue does
            self.failures[name] += 1
            return False

    def wait_until_idle(self, timeout: float) -> bool:
        """Whether every stand-in queue is empty (nothing visible or in flight) within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(queue_depth(self._sqs, url) == 0 for url in self._queues.values()):
                return True
            self._stop.wait(0.1)
        return False


# --- the check: what each webhook received, against the status-change events ---------------------------


@dataclass
class WebhookReport:
    name: str
    format: str
    api_destination: bool
    expected: int  # the status changes its rule's pattern matches
    received: int  # payloads
    dropped_as_older: int = 0  # the sender's: a newer change of the same job or task was sent first
    repeats: int = 0  # an API destination's repeats by eventId (at least once: its receiver drops them)
    problems: list[str] = field(default_factory=list)


def webhook_reports(
    webhooks: Sequence[WebhookSpec], events: Sequence[PublishedEvent], receiver: WebhookReceiver
) -> list[WebhookReport]:
    """Each webhook: exactly one payload per change its deployed pattern matches, by eventId, in its format.

    Through the sender, a change older than one already sent for the same job (or task) is dropped by
    design (each change once, in order); any other gap, a repeat or an unexpected payload is a problem.
    An API destination delivers at least once: a repeat is counted (its receiver drops it), a gap is a problem.
    """
    from moto.events.models import EventPattern  # moto's own matching of the deployed pattern, in-process

    reports = []
    for webhook in webhooks:
        pattern = EventPattern(json.dumps(webhook.event_pattern), webhook.event_pattern)
        matching = {e.detail["eventId"]: e for e in events if pattern.matches_event(_event_of(e))}
        requests = receiver.received(webhook.name)
        report = WebhookReport(webhook.name, webhook.format, webhook.api_destination, len(matching), len(requests))
        ids = []
        for number, request in enumerate(requests):
            event_id = _event_id(webhook.format, request.body)
            if event_id is None:
                report.problems.append(f"webhook {webhook.name}: payload {number} is no {webhook.format} body of an event")
                continue
            ids.append(event_id)
            if webhook.auth_header and request.headers.get(webhook.auth_header) != _header_value(webhook):
                report.problems.append(f"webhook {webhook.name}: payload {number} lacks its {webhook.auth_header} header")
        counts = Counter(ids)
        unexpected = sorted(set(counts) - set(matching))
        report.problems += [f"webhook {webhook.name}: a payload of event {each}, which its rule does not match"
                            for each in unexpected]  # fmt: skip
        repeated = sorted(each for each, count in counts.items() if count > 1)
        if webhook.api_destination:
            report.repeats = sum(counts[each] - 1 for each in repeated)
        else:
            report.problems += [f"webhook {webhook.name}: event {each} sent {counts[each]} times" for each in repeated]
        report.problems += _gaps(webhook, matching, counts, report)
        reports.append(report)
    return reports


def _gaps(webhook: WebhookSpec, matching: dict[str, PublishedEvent], counts: Counter, report: WebhookReport) -> list[str]:
    newest_sent: dict[tuple, int] = defaultdict(lambda: -1)
    for event_id in counts:
        if event_id in matching:
            event = matching[event_id]
            newest_sent[(event.kind, event.key)] = max(newest_sent[(event.kind, event.key)], event.ticks)
    problems = []
    for event_id, event in matching.items():
        if event_id in counts:
            continue
        if not webhook.api_destination and event.ticks < newest_sent[(event.kind, event.key)]:
            report.dropped_as_older += 1
        else:
            problems.append(f"webhook {webhook.name}: no payload of event {event_id} ({event.detail_type}, "
                            f"{event.detail.get('status')})")  # fmt: skip
    return problems


def _event_of(event: PublishedEvent) -> dict:
    return {"source": SOURCE, "detail-type": event.detail_type, "detail": event.detail}


def _event_id(format_name: str, body: bytes) -> str | None:
    with suppress(ValueError):
        payload = json.loads(body)
        if isinstance(payload, dict) and FORMAT_KEYS[format_name] in payload:
            if format_name == JSON_FORMAT:
                return payload["detail"].get("eventId")
            found = EVENT_ID.search(json.dumps(payload, ensure_ascii=False))
            return found[1] if found else None
    return None


def _header_value(webhook: WebhookSpec) -> str | None:
    return local_secret_value(webhook) if webhook.auth_secret else webhook.auth_value


def webhook_lines(reports: Sequence[WebhookReport]) -> list[str]:
    """The demo's summary of the webhooks: per webhook, what it got of what its rule matches."""
    lines = [f"Webhooks ({len(reports)}; a local HTTP receiver stands in for each endpoint):"]
    for report in reports:
        via = "API destination (local stand-in)" if report.api_destination else "the sender"
        extra = [f"{report.dropped_as_older} older changes dropped"] if report.dropped_as_older else []
        extra += [f"{report.repeats} repeats by eventId"] if report.repeats else []
        lines.append(
            f"  {report.name} ({report.format}, via {via}): {report.received} payloads for {report.expected} "
            f"matching changes" + (f" ({', '.join(extra)})" if extra else "")
        )
    return lines
