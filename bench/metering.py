"""What a DynamoDB client does, counted through botocore's event hooks.

`DynamoDBMeter.attach(client)` makes every request on that client:
- ask for ReturnConsumedCapacity=TOTAL (wherever the operation takes it), so the
  write units DynamoDB Local reports are summed without touching the code under test;
- wait `latency_s` before it is sent (a modeled network round trip: DynamoDB Local on
  loopback answers in about a millisecond, a real endpoint in several);
- be counted, per operation and per HTTP attempt (retries included).

A conditional write whose condition fails comes back as an error without
ConsumedCapacity, but real DynamoDB charges for it ("the amount consumed is dependent
on the size of the existing item, or a minimum of 1"). The meter models that charge
from the existing item when the error returns it (ReturnValuesOnConditionCheckFailure),
otherwise from the item that was being written (same key, same schema: about the size).

BatchExecuteStatement's statements are counted one by one: DynamoDB Local reports no
ConsumedCapacity for them, so each is modeled from the item it writes (AWS charges
the larger of the old and the new item, about the same for one key's notifications),
and a statement whose condition fails (ConditionalCheckFailed, or an INSERT's
DuplicateItem) like a failed conditional write above.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter

# DynamoDB's documented item-size rule, as the processor applies it to the 400 KB limit.
from notification_processor.attributes import item_size

WRITE_UNIT_BYTES = 1024
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
FAILED_STATEMENT_CONDITIONS = ("ConditionalCheckFailed", "DuplicateItem")
# The processor's statements (notification_processor/statements.py): the table, then each
# attribute set by a parameter, in the order of the parameters.
_STATEMENT_TABLE = re.compile(r'(?:INTO|UPDATE) "([^"]+)"')
_STATEMENT_NAME = re.compile(r"""["']([^"']+)["'](?: =|:) \?""")


def write_units(size_bytes: int) -> int:
    return max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES))


class DynamoDBMeter:
    """Counts requests and write units of the clients it is attached to (thread-safe)."""

    def __init__(self, latency_s: float = 0.0):
        self.latency_s = latency_s
        self._lock = threading.Lock()
        self.http_attempts = 0
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.reported_wcu = 0.0
        self.modeled_failed_condition_wcu = 0
        self.modeled_statement_wcu = 0  # statements that wrote (DynamoDB Local reports none)
        self.items_written = 0  # PutItem and BatchWriteItem puts that took effect
        # (table, key, timestamp) of each put that took effect: the same notification written
        # again (a duplicate, a redelivered batch) is one stored notification, not two.
        self._notifications_written: set[tuple] = set()
        self._unsettled: list[tuple] = []  # calls whose writes are not yet worked out (_settle)

    def attach(self, client) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb", self._ask_for_capacity)
        # Last: after the processor puts its own body in (notification_processor/statements.py).
        events.register_last("before-call.dynamodb.BatchExecuteStatement", self._read_statements)
        events.register("before-send.dynamodb", self._send)
        events.register("after-call.dynamodb", self._count_call)

    @property
    def notifications_written(self) -> int:
        self._settle()
        return len(self._notifications_written)

    @property
    def write_units(self) -> float:
        """Reported units plus the modeled charges of failed conditional writes and of statements."""
        self._settle()
        return self.reported_wcu + self.modeled_failed_condition_wcu + self.modeled_statement_wcu

    def snapshot(self) -> dict:
        self._settle()
        return {
            "http_requests": self.http_attempts,
            "calls": dict(self.calls),
            "errors": dict(self.errors),
            "reported_wcu": self.reported_wcu,
            "modeled_failed_condition_wcu": self.modeled_failed_condition_wcu,
            "modeled_statement_wcu": self.modeled_statement_wcu,
            "wcu": self.write_units,
            "items_written": self.items_written,
            "notifications_written": self.notifications_written,
        }

    def _ask_for_capacity(self, params, model, context, **_):
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        # Kept by reference: sizes and identities are computed after the timed handler (_settle).
        context["metered_item"] = params.get("Item")
        context["metered_puts"] = [(params["TableName"], params["Item"])] if model.name == "PutItem" else [
            (table, request["PutRequest"]["Item"])
            for table, requests in params.get("RequestItems", {}).items() for request in requests if "PutRequest" in request
        ]

    def _read_statements(self, params, context, **_):
        context["metered_body"] = params["body"]

    def _send(self, **_):
        with self._lock:
            self.http_attempts += 1
        if self.latency_s:
            time.sleep(self.latency_s)

    def _count_call(self, http_response, parsed, model, context, **_):
        """Counts the call; what it wrote is worked out later, outside the handler's timed CPU."""
        consumed = parsed.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        units = sum(entry.get("CapacityUnits", 0.0) for entry in consumed)
        error = parsed.get("Error", {}).get("Code", "Unknown") if http_response.status_code >= 300 else None
        with self._lock:
            self.calls[model.name] += 1
            self.reported_wcu += units
            if error:
                self.errors[error] += 1
            if not error or error == CONDITIONAL_CHECK_FAILED:
                self._unsettled.append((error, parsed, context.get("metered_item"), context.get("metered_puts", []),
                                        context.get("metered_body")))

    def _settle(self) -> None:
        """The modeled units and the notifications written of the calls counted so far."""
        with self._lock:
            unsettled, self._unsettled = self._unsettled, []
        for error, parsed, item, puts, statements_body in unsettled:
            if error:
                returned = parsed.get("Item") or item
                self.modeled_failed_condition_wcu += write_units(item_size(returned)) if returned else 1
                continue
            unprocessed = {
                (table, _identity(request["PutRequest"]["Item"]))
                for table, requests in parsed.get("UnprocessedItems", {}).items() for request in requests
            }
            written = [put for put in ((table, _identity(item)) for table, item in puts) if put not in unprocessed]
            statements = json.loads(statements_body)["Statements"] if statements_body else []
            for statement, response in zip(statements, parsed.get("Responses", []), strict=True):
                table, item = statement_item(statement)
                code = response.get("Error", {}).get("Code")
                if code is None:
                    written.append((table, _identity(item)))
                    self.modeled_statement_wcu += write_units(item_size(item))
                elif code in FAILED_STATEMENT_CONDITIONS:
                    self.modeled_failed_condition_wcu += write_units(_returned_item_size(response["Error"].get("Item"), item))
            self.items_written += len(written)
            self._notifications_written.update(written)


def _returned_item_size(returned: dict | None, written: dict) -> int:
    """The size of the item a failed statement returned, else of the item it would have written
    (DynamoDB Local answers an empty map inside a statement's ALL_OLD item as `{}`, untyped)."""
    try:
        return item_size(returned or written)
    except ValueError:
        return item_size(written)


def statement_item(statement: dict) -> tuple[str, dict]:
    """(table, the attributes a statement sets by parameter) of one of the processor's statements."""
    text = statement["Statement"]
    names = _STATEMENT_NAME.findall(text)
    item = dict(zip(names, statement["Parameters"], strict=False))
    return _STATEMENT_TABLE.search(text).group(1), item


def _identity(item: dict) -> tuple:
    """A stored notification's identity: its key and its Timestamp, as sent."""
    return tuple(str(item.get(name)) for name in ("job_id", "task_id", "timestamp"))
