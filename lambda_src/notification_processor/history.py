"""The optional history: every distinct notification, kept for a number of days.

The processor writes it, not the tables' stream consumer: a stale notification (one
that arrives after a newer one of its job or task) never changes the newest-state
tables, so it never reaches their streams, yet it belongs in the history (a task's
failed attempt, reported late, is still an attempt).

One item per distinct notification: the stored item without the ordering attribute,
plus a sort key and an expiry. Partition key `job_id`, sort key `timeline`: the
notification's Timestamp in UTC (fixed width, so the text sorts in time order), then
its id (identity.notification_id). One Query on a job id returns the job's whole
timeline, its tasks' notifications included, oldest first. A duplicate has the same
key, so it is written once; `expires_at` (epoch seconds, DynamoDB's TTL attribute)
is the time of the first write plus the configured days.

Entries are written as the tables are, up to 25 per request: an `INSERT` statement
creates an entry only if its key is absent (a duplicate's meets it: `DuplicateItem`),
and whatever a statement cannot settle goes to a conditional PutItem.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .identity import notification_id
from .notifications import ORDER_ATTRIBUTE, Notification
from .roles import HISTORY_EXPIRY_ATTRIBUTE, HISTORY_PARTITION_KEY, HISTORY_SORT_KEY
from .statements import (
    KEY_EXISTS,
    MAX_STATEMENT_ATTEMPTS,
    RETRYABLE_STATEMENT_CODES,
    StatementSender,
    backoff_seconds,
    insert_statement,
)
from .store import Outcome, WriteResult, write_if_absent
from .timestamps import deadline_form

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class History:
    table: str
    days: int


@dataclass
class HistoryEntry:
    """One distinct notification of a batch and the records that carried it (duplicates included)."""

    item: dict
    message_ids: list[str]

    @property
    def key(self) -> tuple:
        return (self.item[HISTORY_PARTITION_KEY.name]["S"], self.item[HISTORY_SORT_KEY]["S"])


def timeline_key(ticks: int, item: dict) -> str:
    return f"{deadline_form(ticks)}#{notification_id(item)}"


def history_entries(notifications: list[Notification], now_seconds: float, days: int) -> list[HistoryEntry]:
    """The batch's distinct notifications as history items, in order of first appearance."""
    expires = {"N": str(int(now_seconds) + days * SECONDS_PER_DAY)}
    entries: dict[str, HistoryEntry] = {}
    for notification in notifications:
        key = timeline_key(notification.ticks, notification.item)
        entry = entries.get(key)
        if entry is None:
            item = {name: value for name, value in notification.item.items() if name != ORDER_ATTRIBUTE}
            entries[key] = HistoryEntry(item | {HISTORY_SORT_KEY: {"S": key}, HISTORY_EXPIRY_ATTRIBUTE: expires}, [])
            entry = entries[key]
        entry.message_ids.append(notification.message_id)
    return list(entries.values())


def write_entries(sender: StatementSender, client, table: str, entries: list[HistoryEntry]) -> list[WriteResult]:
    """Each entry's result: STORED, DUPLICATE (already in the history), REFUSED or FAILED.

    One request of INSERT statements (at most statements.MAX_STATEMENTS_PER_REQUEST
    entries); a throttled statement is sent again after a backoff, MAX_STATEMENT_ATTEMPTS
    in all. An entry a statement cannot express, or whose statement met any other error,
    or whose request failed as a whole, is written by its own conditional PutItem, which
    tells a refused item from a failure.
    """
    results: list[WriteResult | None] = [None] * len(entries)
    statements = {number: text for number, entry in enumerate(entries)
                  if (text := insert_statement(table, entry.item)) is not None}
    pending = list(statements)
    for attempt in range(MAX_STATEMENT_ATTEMPTS):
        if not pending:
            break
        time.sleep(backoff_seconds(attempt))
        try:
            responses = sender.send([statements[number] for number in pending])
        except Exception:  # after botocore's retries: each entry's PutItem decides alone
            break
        throttled = []
        for number, response in zip(pending, responses, strict=True):
            code = response.get("Error", {}).get("Code") if response.get("Error") else None
            if code is None:
                results[number] = WriteResult(Outcome.STORED)
            elif code == KEY_EXISTS:
                results[number] = WriteResult(Outcome.DUPLICATE)
            elif code in RETRYABLE_STATEMENT_CODES:
                throttled.append(number)
                results[number] = WriteResult(Outcome.FAILED, f"{code}: {response['Error'].get('Message', '')}")
        pending = throttled
    else:
        pending = []  # still throttled after every attempt: FAILED, as set above
    return [
        result if result is not None and number not in pending
        else write_if_absent(client, table, entries[number].item, HISTORY_SORT_KEY)
        for number, result in enumerate(results)
    ]
