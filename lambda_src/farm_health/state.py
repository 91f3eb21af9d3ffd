"""The counting state in DynamoDB (table WorkerFailureTable), each failure counted once.

Two kinds of item, key attribute `key` (S), TTL attribute `expires_at` (N, epoch s):

- `failure#<worker>#<job>#<task>#<notification id>`: the failure was counted (the
  idempotency record);
- `worker#<worker>`: the worker's WorkerState (window.py) as JSON in `failures` and
  `pending`, its count `failed`, `last_alert_end` (ticks) and a `version` (N).

Counting a failure is one TransactWriteItems of both: the record, on condition it is
absent (or expired), and the worker's item, on condition its version is the one read.
A duplicate (a Lambda retry, the stream's at-least-once delivery, a concurrent
invocation with the same record) fails the first condition and changes nothing; a
concurrent change of the worker fails the second, and the failure is counted again on
the fresh state. So every distinct failure changes the worker's state exactly once.

TTL only tidies up: an item past its `expires_at` is read as absent, whether DynamoDB
has deleted it yet or not; the worker's state is read by its failures' Timestamps.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from botocore.exceptions import ClientError

from .failures import Failure
from .window import Alert, Rule, WorkerState, add_failure, without_pending

KEY = "key"
EXPIRY = "expires_at"
# Past the longest window (a day) and the stream's 24 hours of records: no repeat comes later.
KEEP_SECONDS = 2 * 86_400
ATTEMPTS = 8  # per failure, when concurrent invocations change the same worker
BACKOFF_SECONDS = 0.02  # doubled per attempt, with jitter
_CONFLICTS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class StateConflict(RuntimeError):
    """The worker's item kept changing under this invocation: the record is retried by Lambda."""


@dataclass(frozen=True)
class Counted:
    duplicate: bool  # already counted: nothing changed
    state: WorkerState  # the worker's state after counting (when a duplicate: as read now)
    alert: Alert | None  # the alert this failure completed


def failure_key(failure: Failure) -> str:
    return f"failure#{failure.worker}#{failure.job_id}#{failure.task_id}#{failure.notification_id}"


def worker_key(worker: str) -> str:
    return f"worker#{worker}"


class WorkerFailureStore:
    def __init__(self, client, table: str, *, clock: Callable[[], float] = time.time, sleep=time.sleep):
        self._client = client
        self.table = table
        self._clock = clock
        self._sleep = sleep

    def load(self, worker: str) -> tuple[WorkerState, int]:
        """The worker's state and its item's version (0: no item yet)."""
        item = self._client.get_item(TableName=self.table, Key={KEY: {"S": worker_key(worker)}}, ConsistentRead=True)
        item = item.get("Item")
        if item is None:
            return WorkerState(worker), 0
        version = int(item["version"]["N"])
        if int(item[EXPIRY]["N"]) < self._clock():
            return WorkerState(worker), version  # expired, not yet deleted: as if absent
        return _state_of(worker, item), version

    def count(self, failure: Failure, rule: Rule) -> Counted:
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            state, version = self.load(failure.worker)
            counted, alert = add_failure(state, failure, rule)
            now = int(self._clock())
            record = {
                "Put": {
                    "TableName": self.table,
                    "Item": {KEY: {"S": failure_key(failure)}, EXPIRY: {"N": str(now + KEEP_SECONDS)}},
                    "ConditionExpression": "attribute_not_exists(#k) OR #e < :now",
                    "ExpressionAttributeNames": {"#k": KEY, "#e": EXPIRY},
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                }
            }
            try:
                self._client.transact_write_items(TransactItems=[record, self._put_worker(counted, version, now)])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = [reason.get("Code") for reason in error.response.get("CancellationReasons", [])]
                if codes[:1] == ["ConditionalCheckFailed"]:
                    return Counted(True, self.load(failure.worker)[0], None)
                if not set(codes) & _CONFLICTS:
                    raise
                continue
            return Counted(False, counted, alert)
        raise StateConflict(f"worker {failure.worker}'s state changed on each of {ATTEMPTS} attempts")

    def settle(self, worker: str, trigger: str) -> None:
        """The alert completed by `trigger` is on the bus: no longer pending."""
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            state, version = self.load(worker)
            if not any(alert.trigger == trigger for alert in state.pending):
                return
            try:
                self._client.put_item(**self._put_worker(without_pending(state, trigger), version, int(self._clock()))["Put"])
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue
            return
        raise StateConflict(f"worker {worker}'s state changed on each of {ATTEMPTS} attempts")

    def _put_worker(self, state: WorkerState, version: int, now: int) -> dict:
        item = {
            KEY: {"S": worker_key(state.worker)},
            "worker": {"S": state.worker},
            "version": {"N": str(version + 1)},
            "failed": {"N": str(state.failed)},
            "failures": {"S": _json([f.to_json() for f in state.failures])},
            "pending": {"S": _json([alert.to_json() for alert in state.pending])},
            EXPIRY: {"N": str(now + KEEP_SECONDS)},
        }
        if state.last_alert_end is not None:
            item["last_alert_end"] = {"N": str(state.last_alert_end)}
        condition = (
            {"ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": KEY}}
            if version == 0
            else {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        )
        return {"Put": {"TableName": self.table, "Item": item, **condition}}


def _state_of(worker: str, item: dict) -> WorkerState:
    last = item.get("last_alert_end", {}).get("N")
    return replace(
        WorkerState(worker),
        failures=tuple(Failure.from_json(row) for row in json.loads(item["failures"]["S"])),
        failed=int(item["failed"]["N"]),
        last_alert_end=int(last) if last is not None else None,
        pending=tuple(Alert.from_json(worker, data) for data in json.loads(item["pending"]["S"])),
    )


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
