"""The counting state in DynamoDB (table WorkerFailureTable), each failure counted once.

Key: partition `worker` (S, the worker's name), sort `entry` (S); TTL attribute
`expires_at` (N, epoch seconds). Per worker, items of two kinds:

- `failure#<ticks>#<notification id>`: one counted failure (its job, task, Timestamp and
  reason), sorted by its Timestamp (ticks offset to a fixed width, so text sorts as time);
  it is also the idempotency record of that failure;
- `state`: the worker's WorkerState (window.py): the count `failed`, `last_alert_end`
  (ticks), the alerts still `pending` (JSON) and a `version` (N).

Counting a failure reads the state and, with one Query, the worker's failures within a
window of it either side; then one TransactWriteItems writes both the failure's item, on
condition it is absent (or expired), and the state, on condition its version is the one
read. A duplicate (a Lambda retry, the stream's at-least-once delivery, a concurrent
invocation with the same record) fails the first condition and changes nothing; a
concurrent count for the same worker fails the second (its failure may be one the Query
missed), and the failure is counted again on a fresh read. So every distinct failure
changes the worker's state exactly once, decided on every failure counted before it.

TTL only tidies up: an item past its `expires_at` is read as absent, whether DynamoDB
has deleted it yet or not. Each write stays small (a failure, the state), whatever the
worker's history.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from botocore.exceptions import ClientError

from .failures import Failure
from .window import Alert, Rule, WorkerState, add_failure, nearby, without_pending

WORKER = "worker"
ENTRY = "entry"
EXPIRY = "expires_at"
STATE_ENTRY = "state"
FAILURE_PREFIX = "failure#"
# Ticks since the epoch are negative before 1970: offset, every Timestamp Deadline can write is positive.
_TICKS_OFFSET = 10**18
# Past the longest window (a day) and the stream's 24 hours of records: no repeat, no window needs it later.
KEEP_SECONDS = 2 * 86_400
ATTEMPTS = 8  # per failure, when concurrent invocations change the same worker
BACKOFF_SECONDS = 0.02  # doubled per attempt, with jitter
_CONFLICTS = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class StateConflict(RuntimeError):
    """The worker's state kept changing under this invocation: the record is retried by Lambda."""


@dataclass(frozen=True)
class Counted:
    duplicate: bool  # already counted: nothing changed
    state: WorkerState  # the worker's state after counting (when a duplicate: as read now)
    alert: Alert | None  # the alert this failure completed


def failure_entry(ticks: int, notification_id: str = "") -> str:
    return f"{FAILURE_PREFIX}{ticks + _TICKS_OFFSET:020d}#{notification_id}"


class WorkerFailureStore:
    def __init__(self, client, table: str, *, clock: Callable[[], float] = time.time, sleep=time.sleep):
        self._client = client
        self.table = table
        self._clock = clock
        self._sleep = sleep

    def load(self, worker: str) -> tuple[WorkerState, int]:
        """The worker's state and its item's version (0: no item yet)."""
        key = {WORKER: {"S": worker}, ENTRY: {"S": STATE_ENTRY}}
        item = self._client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        if item is None:
            return WorkerState(worker), 0
        version = int(item["version"]["N"])
        if int(item[EXPIRY]["N"]) < self._clock():
            return WorkerState(worker), version  # expired, not yet deleted: as if absent
        return _state_of(worker, item), version

    def failures_near(self, failure: Failure, rule: Rule) -> list[Failure]:
        """The worker's counted failures a window either side of `failure` (one Query, paged)."""
        low, high = nearby(failure, rule)
        request = {
            "TableName": self.table,
            "KeyConditionExpression": "#w = :w AND #e BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#w": WORKER, "#e": ENTRY},
            "ExpressionAttributeValues": {
                ":w": {"S": failure.worker},
                ":low": {"S": failure_entry(low)},
                ":high": {"S": failure_entry(high + 1)},  # "#" sorts before every id: the +1 takes in `high`
            },
            "ConsistentRead": True,
        }
        found, now = [], self._clock()
        while True:
            page = self._client.query(**request)
            found += [_failure_of(failure.worker, item) for item in page.get("Items", []) if int(item[EXPIRY]["N"]) >= now]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def count(self, failure: Failure, rule: Rule) -> Counted:
        for attempt in range(ATTEMPTS):
            if attempt:
                self._sleep(BACKOFF_SECONDS * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
            state, version = self.load(failure.worker)
            counted, alert = add_failure(state, self.failures_near(failure, rule), failure, rule)
            now = int(self._clock())
            try:
                self._client.transact_write_items(
                    TransactItems=[self._put_failure(failure, now), self._put_state(counted, version, now)]
                )
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
            put = self._put_state(without_pending(state, trigger), version, int(self._clock()))["Put"]
            try:
                self._client.put_item(**put)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                continue
            return
        raise StateConflict(f"worker {worker}'s state changed on each of {ATTEMPTS} attempts")

    def _put_failure(self, failure: Failure, now: int) -> dict:
        item = {
            WORKER: {"S": failure.worker},
            ENTRY: {"S": failure_entry(failure.ticks, failure.notification_id)},
            "job_id": {"S": failure.job_id},
            "task_id": {"N": str(failure.task_id)},
            "timestamp": {"S": failure.timestamp},
            "reason": {"S": failure.reason},
            EXPIRY: {"N": str(now + KEEP_SECONDS)},
        }
        return {
            "Put": {
                "TableName": self.table,
                "Item": item,
                "ConditionExpression": "attribute_not_exists(#w) OR #x < :now",
                "ExpressionAttributeNames": {"#w": WORKER, "#x": EXPIRY},
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        }

    def _put_state(self, state: WorkerState, version: int, now: int) -> dict:
        item = {
            WORKER: {"S": state.worker},
            ENTRY: {"S": STATE_ENTRY},
            "version": {"N": str(version + 1)},
            "failed": {"N": str(state.failed)},
            "pending": {"S": json.dumps([a.to_json() for a in state.pending], separators=(",", ":"), ensure_ascii=False)},
            EXPIRY: {"N": str(now + KEEP_SECONDS)},
        }
        if state.last_alert_end is not None:
            item["last_alert_end"] = {"N": str(state.last_alert_end)}
        condition = (
            {"ConditionExpression": "attribute_not_exists(#w)", "ExpressionAttributeNames": {"#w": WORKER}}
            if version == 0
            else {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": str(version)}},
            }
        )
        return {"Put": {"TableName": self.table, "Item": item, **condition}}


def _failure_of(worker: str, item: dict) -> Failure:
    ticks, _, nid = item[ENTRY]["S"].removeprefix(FAILURE_PREFIX).partition("#")
    return Failure(worker, item["job_id"]["S"], int(item["task_id"]["N"]), int(ticks) - _TICKS_OFFSET,
                   item["timestamp"]["S"], nid, item["reason"]["S"])  # fmt: skip


def _state_of(worker: str, item: dict) -> WorkerState:
    last = item.get("last_alert_end", {}).get("N")
    return replace(
        WorkerState(worker),
        failed=int(item["failed"]["N"]),
        last_alert_end=int(last) if last is not None else None,
        pending=tuple(Alert.from_json(worker, data) for data in json.loads(item["pending"]["S"])),
    )
