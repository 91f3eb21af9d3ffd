"""Conditional writes: a notification replaces a stored item only if it is newer;
a history entry is written only once.

DynamoDB evaluates the condition atomically with the write, so concurrent
invocations and redeliveries can never let an older notification overwrite a newer
one; there is no read-then-write anywhere.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .notifications import ORDER_ATTRIBUTE, Notification

# PutItem takes milliseconds; these bound a batch's worst case (4 attempts with
# standard-mode backoff, at most about 23 s) and let the writes of one batch run at once.
# Our own code builds every request, so botocore's parameter validation, about a sixth of
# the client's CPU per PutItem (bench/), is skipped; DynamoDB still validates each request.
CLIENT_OPTIONS = {
    "parameter_validation": False,
    "retries": {"mode": "standard", "total_max_attempts": 4},
    "connect_timeout": 1,
    "read_timeout": 3,
    "max_pool_connections": 50,
}

# Items the documented Lambda wrote have no ORDER_ATTRIBUTE: any notification replaces them.
NEWER_CONDITION = "attribute_not_exists(#order) OR #order < :order"


def dynamodb_client():
    """The processor's client: endpoint, region and credentials from boto3's own configuration."""
    return boto3.client("dynamodb", config=Config(**CLIENT_OPTIONS))


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the table already holds this very notification (or history entry)
    STALE = "stale"  # the table holds a newer one
    FAILED = "failed"  # an error outlasted the retries (throttling, a 5xx, a timeout)


@dataclass(frozen=True)
class WriteResult:
    outcome: Outcome
    error: str = ""


def write_if_newer(client, table: str, notification: Notification) -> WriteResult:
    """PutItem `notification` unless the table holds one at least as new."""
    request = {
        "TableName": table,
        "Item": notification.item,
        "ConditionExpression": NEWER_CONDITION,
        "ExpressionAttributeNames": {"#order": ORDER_ATTRIBUTE},
        "ExpressionAttributeValues": {":order": notification.item[ORDER_ATTRIBUTE]},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    return _conditional_put(client, request, lambda stored: _not_newer(notification, stored))


def write_if_absent(client, table: str, item: dict, key_attribute: str) -> WriteResult:
    """PutItem `item` unless the table holds an item with its key: then it is a DUPLICATE."""
    request = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#key)",
        "ExpressionAttributeNames": {"#key": key_attribute},
    }
    return _conditional_put(client, request, lambda _stored: Outcome.DUPLICATE)


def _conditional_put(client, request: dict, refused: Callable[[dict], Outcome]) -> WriteResult:
    """One conditional PutItem; a refusal's outcome is `refused(the stored item, if DynamoDB returned it)`."""
    try:
        client.put_item(**request)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            return WriteResult(refused(error.response.get("Item", {})))
        return WriteResult(Outcome.FAILED, f"{code}: {error.response.get('Error', {}).get('Message', '')}")
    except BotoCoreError as error:  # connection errors and timeouts, after the retries
        return WriteResult(Outcome.FAILED, f"{type(error).__name__}: {error}")
    return WriteResult(Outcome.STORED)


def _not_newer(notification: Notification, stored: dict) -> Outcome:
    """Which refusal this was, from the item DynamoDB returned (it may return none)."""
    same = stored.get(ORDER_ATTRIBUTE) == notification.item[ORDER_ATTRIBUTE]
    return Outcome.DUPLICATE if same else Outcome.STALE
