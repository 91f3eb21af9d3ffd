"""Conditional writes: a notification replaces a stored item only if it is newer;
a history entry is written only once.

DynamoDB evaluates the condition atomically with the write, so concurrent
invocations and redeliveries can never let an older notification overwrite a newer
one; there is no read-then-write, except once for an item whose `timestamp` DynamoDB
cannot compare (see `_replaces_unordered`), and that write is conditional too.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .attributes import KEY_MAPPING
from .notifications import ORDER_ATTRIBUTE, Notification
from .roles import TableRole
from .statements import Stored, stored_of
from .timestamps import DEADLINE_FORM_LENGTH, TimestampError, deadline_form, is_deadline_form, timestamp_ticks

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

TIMESTAMP_ATTRIBUTE = KEY_MAPPING["Timestamp"]
# An item with the ordering attribute is replaced by a notification with a greater one. An
# item without it (written by the documented Lambda, or with an earlier version's binary "v")
# is replaced by a notification whose Timestamp is later than the item's `timestamp`: both in
# Deadline's own form (the notification's is sent in it), text compares as time does. An item
# without a `timestamp` has no instant to keep and is replaced. A `timestamp` in another form
# (28 characters with a Z is Deadline's; size() of a non-string is simply false) fails this
# condition and is compared by the processor instead.
NEWER_CONDITION = (
    "#order < :order OR (attribute_not_exists(#order) AND (attribute_not_exists(#timestamp) OR ("
    "size(#timestamp) = :deadline_form_length AND contains(#timestamp, :utc) AND #timestamp < :timestamp)))"
)
# The item the processor compared is still there, unchanged.
SAME_TEXT_TIMESTAMP_CONDITION = "attribute_not_exists(#order) AND #timestamp = :stored_timestamp"
SAME_NON_TEXT_TIMESTAMP_CONDITION = "attribute_not_exists(#order) AND NOT attribute_type(#timestamp, :string_type)"
# DynamoDB's answers to an item it will never accept as written: no retry can store it.
REFUSED_ERROR_CODES = frozenset({"ValidationException", "SerializationException"})
# DynamoDB's messages can quote the item's names; a reason stays a reason, not a copy of the body.
MAX_ERROR_CHARACTERS = 300


def dynamodb_client():
    """The processor's client: endpoint, region and credentials from boto3's own configuration."""
    return boto3.client("dynamodb", config=Config(**CLIENT_OPTIONS))


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the table already holds this very notification (or history entry)
    STALE = "stale"  # the table holds a newer one
    REFUSED = "refused"  # DynamoDB refused the item itself: the notification is invalid
    FAILED = "failed"  # an error outlasted the retries (throttling, a 5xx, a timeout)


@dataclass(frozen=True)
class WriteResult:
    outcome: Outcome
    error: str = ""
    stored: Stored | None = None  # the newer or same item a refused condition returned, if it had an ordering value


class TableCheckError(RuntimeError):
    """DynamoDB did not describe a table; the message says why."""


def write_if_newer(client, table: str, notification: Notification) -> WriteResult:
    """PutItem `notification` unless the table holds one at least as new."""
    names = {"#order": ORDER_ATTRIBUTE, "#timestamp": TIMESTAMP_ATTRIBUTE}
    values = {
        ":order": notification.item[ORDER_ATTRIBUTE],
        ":timestamp": {"S": deadline_form(notification.ticks)},
        ":deadline_form_length": {"N": str(DEADLINE_FORM_LENGTH)},
        ":utc": {"S": "Z"},
    }
    refused = functools.partial(_not_newer, notification)
    result, stored = _put(client, table, notification.item, NEWER_CONDITION, names, values, refused)
    if result.outcome is not Outcome.STALE or not _replaces_unordered(notification, stored):
        return result
    timestamp = stored[TIMESTAMP_ATTRIBUTE]
    if "S" in timestamp:
        condition, values = SAME_TEXT_TIMESTAMP_CONDITION, {":stored_timestamp": timestamp}
    else:
        condition, values = SAME_NON_TEXT_TIMESTAMP_CONDITION, {":string_type": {"S": "S"}}
    result, _ = _put(client, table, notification.item, condition, names, values, refused)
    if result.outcome is Outcome.STALE:  # replaced meanwhile: compared again when the record comes back
        return WriteResult(Outcome.FAILED, "the stored item changed while it was compared")
    return result


def write_if_absent(client, table: str, item: dict, key_attribute: str) -> WriteResult:
    """PutItem `item` unless the table holds an item with its key: then it is a DUPLICATE."""
    result, _ = _put(
        client, table, item, "attribute_not_exists(#key)", {"#key": key_attribute}, {}, lambda _stored: Outcome.DUPLICATE
    )
    return result


def _put(
    client, table: str, item: dict, condition: str, names: dict, values: dict, refused: Callable[[dict], Outcome]
) -> tuple[WriteResult, dict]:
    """One conditional PutItem's result, and the stored item DynamoDB returned if the condition
    refused it (it may return none); a refusal's outcome is `refused(that item)`."""
    request = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if values:
        request["ExpressionAttributeValues"] = values
    try:
        client.put_item(**request)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            stored = error.response.get("Item", {})  # DynamoDB may return none
            return WriteResult(refused(stored), stored=stored_of(stored)), stored
        return WriteResult(_failure(error), error_text(error)), {}
    except BotoCoreError as error:  # connection errors and timeouts, after the retries
        return WriteResult(Outcome.FAILED, error_text(error)), {}
    return WriteResult(Outcome.STORED), {}


def _failure(error: ClientError) -> Outcome:
    code = error.response.get("Error", {}).get("Code", "")
    return Outcome.REFUSED if code in REFUSED_ERROR_CODES else Outcome.FAILED


def error_text(error: BaseException) -> str:
    """DynamoDB's error code and message, or the exception's name and text, shortened."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        text = f"{details.get('Code', '')}: {details.get('Message', '')}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_CHARACTERS else text[: MAX_ERROR_CHARACTERS - 3] + "..."


def _not_newer(notification: Notification, stored: dict) -> Outcome:
    """Which refusal this was, from the item DynamoDB returned (it may return none)."""
    stored_order = stored.get(ORDER_ATTRIBUTE, {}).get("N")
    same = stored_order is not None and Decimal(stored_order) == notification.order
    return Outcome.DUPLICATE if same else Outcome.STALE


def _replaces_unordered(notification: Notification, stored: dict) -> bool:
    """Whether `notification` is newer than a stored item that NEWER_CONDITION could not compare.

    That is an item without the ordering attribute whose `timestamp` is not in Deadline's
    form: a string in another form is compared here as an instant; one that names no
    instant (not a Timestamp, not a string) leaves nothing to keep.
    """
    if not stored or ORDER_ATTRIBUTE in stored or TIMESTAMP_ATTRIBUTE not in stored:
        return False
    text = stored[TIMESTAMP_ATTRIBUTE].get("S")
    if text is None:
        return True
    if is_deadline_form(text):
        return False  # the condition compared it
    try:
        return timestamp_ticks(text) < notification.ticks
    except TimestampError:
        return True


def key_schema_problem(client, table: str, role: TableRole) -> str | None:
    """Why `table` cannot hold `role`'s notifications (its primary key differs), or None.

    Raises TableCheckError if DynamoDB does not describe the table.
    """
    try:
        description = client.describe_table(TableName=table)["Table"]
    except (ClientError, BotoCoreError) as error:
        raise TableCheckError(f"cannot describe the table {table} ({role.environment_variable}): {error_text(error)}") from error
    types = {attribute["AttributeName"]: attribute["AttributeType"] for attribute in description["AttributeDefinitions"]}
    # The partition key first, as roles.TableRole lists it.
    schema = sorted(description["KeySchema"], key=lambda element: element["KeyType"] != "HASH")
    keyed = [(element["AttributeName"], types.get(element["AttributeName"], "?")) for element in schema]
    needed = [(attribute.name, attribute.type) for attribute in role.key]
    if keyed == needed:
        return None
    return (
        f"the table {table} named by {role.environment_variable} is keyed {_key_text(keyed)}, but {role.kind} "
        f"notifications need a table keyed {_key_text(needed)}: check which table each variable names"
    )


def _key_text(key: list[tuple[str, str]]) -> str:
    return " + ".join(f"{name} ({kind})" for name, kind in key)
