"""The sender Lambda: handler `deliveries.handler.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": messageId}]}  (or [])

Configured by environment variables, which the stack sets: DELIVERY_DESTINATIONS (the
destinations' JSON), DELIVERY_STATE_TABLE and DELIVERY_LEASE_SECONDS (the function's timeout).
Built on the first event and reused for the container's life.
"""

from __future__ import annotations

import functools
import os

import boto3
from botocore.config import Config

from .destinations import ARTISTS, CHAT, WEBHOOK, ConfigurationError, destinations_from_environment
from .publishing import TopicPublisher
from .sender import Sender
from .state import DeliveryState
from .webhooks import SecretCache, WebhookPoster, secrets_client

STATE_TABLE_VARIABLE = "DELIVERY_STATE_TABLE"
LEASE_VARIABLE = "DELIVERY_LEASE_SECONDS"
CLIENT_OPTIONS = {"retries": {"mode": "standard", "total_max_attempts": 3}, "connect_timeout": 2, "read_timeout": 5}


def sender_from_environment(
    environ=os.environ, *, dynamodb=None, sns=None, webhook_poster: WebhookPoster | None = None
) -> Sender:
    """The sender as on Lambda; the local pipeline passes its engines' clients and its webhook poster."""
    destinations = destinations_from_environment(environ)
    table, lease = environ.get(STATE_TABLE_VARIABLE), environ.get(LEASE_VARIABLE, "")
    if not table or not lease.isdigit():
        raise ConfigurationError(f"set {STATE_TABLE_VARIABLE} (a table name) and {LEASE_VARIABLE} (whole seconds)")
    config = Config(**CLIENT_OPTIONS)
    state = DeliveryState(dynamodb or boto3.client("dynamodb", config=config), table, lease_seconds=int(lease))
    publisher = TopicPublisher(sns or boto3.client("sns", config=config))
    send = {ARTISTS: publisher.artists, CHAT: publisher.chat}
    if any(each.kind == WEBHOOK for each in destinations.values()):
        send[WEBHOOK] = (webhook_poster or WebhookPoster(SecretCache(secrets_client()))).deliver
    return Sender(destinations, state, send)


@functools.cache
def _sender() -> Sender:
    return sender_from_environment()


def main(event: dict, context) -> dict:
    return _sender().handle(event, context)
