"""Conditional writes of up to 25 keys per request: PartiQL statements in one BatchExecuteStatement.

botocore's CPU per request (serialize, sign, send, parse) is most of the processor's
work, so the keys of a batch share requests. Each statement keeps its own condition:
- a key this container does not know is written with `INSERT`, which creates the item
  only if the key is absent (DynamoDB answers `DuplicateItem` otherwise);
- a key it knows (`Stored`: the ordering value and attribute names of the item it last
  wrote or saw) is written with `UPDATE ... SET <every attribute> REMOVE <the known names
  the new item lacks> WHERE <key> AND o = <known> AND o < <new>`. The condition holds only
  while the table holds exactly the known item, so the REMOVE list is complete and the
  result is exactly the new item; `o < <new>` keeps newest-wins even where the memory
  says the stored item is already newer (then the statement only asks, and its failure
  returns the stored item).
A statement whose condition fails returns the stored item (ALL_OLD), which tells a
stale or duplicate write from a key to write again. Anything these statements cannot
express goes to the conditional PutItem of store.py, the general path.
"""

from __future__ import annotations

import enum
import json
import random
import re
import threading
from dataclasses import dataclass
from typing import ClassVar

from .notifications import ORDER_ATTRIBUTE, Notification
from .roles import TableRole

MAX_STATEMENTS_PER_REQUEST = 25
MAX_STATEMENT_CHARACTERS = 8192
# Names written into a statement's text (quoted); any other name takes the PutItem path.
_QUOTABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# A statement's own errors inside a successful answer: botocore retries none of them.
RETRYABLE_STATEMENT_CODES = frozenset({
    "RequestLimitExceeded", "ProvisionedThroughputExceeded", "TransactionConflict", "ThrottlingError",
    "InternalServerError",
})
CONDITION_FAILED = "ConditionalCheckFailed"
KEY_EXISTS = "DuplicateItem"
# A statement throttled or failed inside a successful answer is sent again by this code
# (botocore retries whole requests only), as often as the client retries a request, after
# a full-jitter exponential backoff.
MAX_STATEMENT_ATTEMPTS = 4
STATEMENT_BACKOFF_BASE_SECONDS = 0.05


@dataclass(frozen=True)
class Stored:
    """What this container knows a table holds for a key: its ordering value and attribute names."""

    order: int
    names: frozenset[str]


def stored_of(item: dict | None) -> Stored | None:
    """What `item` (a whole stored item) tells; None without one or without an ordering value."""
    order = item.get(ORDER_ATTRIBUTE, {}).get("N") if item else None
    if item is None or order is None:
        return None
    return Stored(int(order), frozenset(item))


class Answer(enum.Enum):
    STORED = "stored"
    NOT_NEWER = "not newer"  # the table holds this notification or a newer one: `stored` says which
    CHANGED = "changed"  # the table holds an older item than expected: write again against `stored`
    ABSENT = "absent"  # the known item is gone: insert
    EXISTS = "exists"  # an insert met an item this container does not know
    RETRY = "retry"  # throttled or an internal error: send again
    OTHER = "other"  # anything else: the PutItem path decides


@dataclass(frozen=True)
class StatementResult:
    answer: Answer
    stored: Stored | None = None
    error: str = ""


def statement(table: str, role: TableRole, notification: Notification, known: Stored | None) -> dict | None:
    """The statement writing `notification` if it is newer, or None if it takes the PutItem path."""
    item = notification.item
    if known is not None and not all(map(_QUOTABLE_NAME.match, known.names)):
        return None
    if known is None:
        return insert_statement(table, item)
    if not all(map(_QUOTABLE_NAME.match, item)):
        return None
    key_names = role.key_names
    names = [name for name in item if name not in key_names]
    removed = sorted(known.names - item.keys())
    text = " ".join([
        f'UPDATE "{table}"',
        *(f'SET "{name}" = ?' for name in names),
        *(f'REMOVE "{name}"' for name in removed),
        "WHERE " + " AND ".join(f'"{name}" = ?' for name in key_names),
        f'AND "{ORDER_ATTRIBUTE}" = ? AND "{ORDER_ATTRIBUTE}" < ?',
    ])
    parameters = [
        *(item[name] for name in names), *(item[name] for name in key_names),
        {"N": str(known.order)}, item[ORDER_ATTRIBUTE],
    ]
    return _statement(text, parameters)


def insert_statement(table: str, item: dict) -> dict | None:
    """The statement creating `item` only if its key is absent, or None if a statement cannot express it."""
    if not all(map(_QUOTABLE_NAME.match, item)):
        return None
    names = list(item)
    fields = ", ".join(f"'{name}': ?" for name in names)
    return _statement(f'INSERT INTO "{table}" VALUE {{{fields}}}', [item[name] for name in names])


def _statement(text: str, parameters: list[dict]) -> dict | None:
    if len(text) > MAX_STATEMENT_CHARACTERS:
        return None
    return {"Statement": text, "Parameters": parameters, "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def backoff_seconds(retries: int) -> float:
    """The full-jitter wait before a statement's next attempt (none before its first)."""
    return random.uniform(0, STATEMENT_BACKOFF_BASE_SECONDS * 2**retries) if retries else 0.0


class StatementSender:
    """Sends BatchExecuteStatement requests whose body is the statements' own JSON.

    botocore walks every AttributeValue of every parameter through its shape model
    before it sends a request: most of the client's CPU per statement (bench/). These
    statements are already in DynamoDB's wire form, so `json.dumps` of them is the body.
    botocore emits before-call after it serializes and before it signs and sends; this
    object's handler swaps in the body for the requests it sends itself, and no other.
    """

    # A valid request of its own, in case a client validates parameters; its body is replaced.
    _PLACEHOLDER: ClassVar[list[dict]] = [{"Statement": "-"}]

    def __init__(self, client):
        self._client = client
        self._bodies = threading.local()  # the writer threads send at once
        client.meta.events.register("before-call.dynamodb.BatchExecuteStatement", self._use_body)

    def send(self, statements: list[dict]) -> list[dict]:
        """The statements' answers, in order (BatchExecuteStatement's Responses)."""
        self._bodies.body = json.dumps({"Statements": statements}).encode()
        try:
            return self._client.batch_execute_statement(Statements=self._PLACEHOLDER)["Responses"]
        finally:
            self._bodies.body = None

    def _use_body(self, params, **_):
        body = getattr(self._bodies, "body", None)
        if body is not None:
            params["body"] = body


def read_answer(notification: Notification, inserted: bool, response: dict) -> StatementResult:
    """What one statement's answer (an element of BatchExecuteStatement's Responses) means."""
    error = response.get("Error")
    if not error:
        return StatementResult(Answer.STORED, Stored(notification.order, frozenset(notification.item)))
    code = error.get("Code", "")
    text = f"{code}: {error.get('Message', '')}"
    if code in RETRYABLE_STATEMENT_CODES:
        return StatementResult(Answer.RETRY, error=text)
    if code == KEY_EXISTS and inserted:
        return StatementResult(Answer.EXISTS)
    if code != CONDITION_FAILED or inserted:
        return StatementResult(Answer.OTHER, error=text)
    item = error.get("Item")
    if not item:
        return StatementResult(Answer.ABSENT)
    stored = stored_of(item)
    if stored is None:  # an item without the ordering value: the PutItem path compares its timestamp
        return StatementResult(Answer.OTHER, error=text)
    if stored.order >= notification.order:
        return StatementResult(Answer.NOT_NEWER, stored)
    return StatementResult(Answer.CHANGED, stored)
