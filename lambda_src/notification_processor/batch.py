"""One Lambda SQS event in, `batchItemFailures` out: the processor's whole flow.

Parse every record (bad ones are reported, never raised), reduce to the newest
notification per key, write those concurrently with conditional PutItems (and, with
a history table, every distinct notification to it), and report exactly the records
that are neither stored nor superseded by what is stored (nor, with a history, in it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial

from .history import History, HistoryEntry, history_entries
from .notifications import InvalidNotification, parse_record
from .reduction import KeyWrite, newest_per_key
from .roles import HISTORY_DAYS_VARIABLE, HISTORY_SORT_KEY, HISTORY_TABLE_VARIABLE, TABLE_ROLES
from .store import Outcome, WriteResult, dynamodb_client, write_if_absent, write_if_newer
from .telemetry import DEFAULT_METRICS_NAMESPACE, BatchCounts, Telemetry

METRICS_NAMESPACE_VARIABLE = "METRICS_NAMESPACE"
LOCAL_FUNCTION_NAME = "local"
# Time kept back from the function's timeout to report on writes that are still running.
DEADLINE_MARGIN_SECONDS = 1.0
_TIMED_OUT = WriteResult(Outcome.FAILED, "no answer before the function's timeout")
# What a record of a key whose write did not fail counts as, by the key's outcome.
_NEWEST_COUNTS = {Outcome.STORED: "stored", Outcome.DUPLICATE: "duplicate", Outcome.STALE: "stale"}


class ConfigurationError(RuntimeError):
    """The processor's environment does not say where to store notifications."""


class BatchProcessor:
    """Stores the notifications of Lambda SQS events in the job and task tables.

    `tables` names the table of each role (roles.TABLE_ROLES' keys); `history`, if given,
    the history table and its entries' lifetime. `client` is a boto3 DynamoDB client
    (thread-safe, shared by the concurrent writes, which are as many as its
    max_pool_connections); `log_stream` defaults to stdout.
    """

    def __init__(
        self,
        client,
        tables: Mapping[str, str],
        *,
        history: History | None = None,
        metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        function_name: str = LOCAL_FUNCTION_NAME,
        log_stream=None,
    ):
        missing = TABLE_ROLES.keys() - tables.keys()
        if missing:
            raise ConfigurationError(f"no table for {', '.join(sorted(missing))} notifications")
        self._client = client
        self._tables = {kind: tables[kind] for kind in TABLE_ROLES}
        self._history = history
        # Threads start on demand and are reused by later events (a container handles many).
        self._writers = ThreadPoolExecutor(max_workers=client.meta.config.max_pool_connections)
        self._telemetry = Telemetry(metrics_namespace, function_name, log_stream)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> BatchProcessor:
        """Configured as on Lambda: table names, namespace and function name from `environ`.

        Every table's variable must be set: a missing one raises ConfigurationError, so
        a misconfigured function fails clearly instead of writing to a default table. The
        history is written when its table's variable is set (with its days).
        """
        missing = [role.environment_variable for role in TABLE_ROLES.values() if not environ.get(role.environment_variable)]
        if missing:
            raise ConfigurationError(
                f"the environment does not name the tables: set {' and '.join(missing)} "
                "(the stack sets them; a hand-made function needs them too)"
            )
        history = None
        if environ.get(HISTORY_TABLE_VARIABLE):
            days = environ.get(HISTORY_DAYS_VARIABLE, "")
            if not days.isdigit() or not int(days):
                raise ConfigurationError(f"{HISTORY_DAYS_VARIABLE} must be a whole number of days, not {days!r}")
            history = History(environ[HISTORY_TABLE_VARIABLE], int(days))
        return cls(
            client or dynamodb_client(),
            {kind: environ[role.environment_variable] for kind, role in TABLE_ROLES.items()},
            history=history,
            metrics_namespace=environ.get(METRICS_NAMESPACE_VARIABLE, DEFAULT_METRICS_NAMESPACE),
            function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", LOCAL_FUNCTION_NAME),
        )

    def handle(self, event: dict, context=None) -> dict:
        """Process one Lambda SQS event; returns {"batchItemFailures": [{"itemIdentifier": id}, ...]}."""
        records = event["Records"]
        counts = BatchCounts(received=len(records))
        failed_ids: set[str] = set()
        valid = []
        for parsed in map(parse_record, records):
            if isinstance(parsed, InvalidNotification):
                counts.invalid += 1
                if parsed.message_id not in failed_ids:  # a message delivered twice in one batch
                    self._telemetry.invalid_record(parsed.message_id, parsed.reason)
                failed_ids.add(parsed.message_id)
            else:
                valid.append(parsed)
        writes = newest_per_key(valid)
        calls = [partial(write_if_newer, self._client, self._tables[w.newest.kind], w.newest) for w in writes]
        entries: list[HistoryEntry] = []
        if self._history:
            table, entries = self._history.table, history_entries(valid, time.time(), self._history.days)
            calls += [partial(write_if_absent, self._client, table, entry.item, HISTORY_SORT_KEY) for entry in entries]
        results = self._run_all(calls, context)
        unrecorded = self._unrecorded(entries, results[len(writes):])
        for write, result in zip(writes, results[: len(writes)], strict=True):
            self._account(write, result, unrecorded, counts, failed_ids)
        self._telemetry.batch(counts, getattr(context, "aws_request_id", None))
        in_batch_order = dict.fromkeys(record["messageId"] for record in records)
        return {
            "batchItemFailures": [{"itemIdentifier": message_id} for message_id in in_batch_order if message_id in failed_ids]
        }

    def _unrecorded(self, entries: list[HistoryEntry], results: list[WriteResult]) -> set[str]:
        """The message ids whose history entry could not be written (each failure logged)."""
        unrecorded: set[str] = set()
        for entry, result in zip(entries, results, strict=True):
            if result.outcome is Outcome.FAILED and self._history:
                unrecorded.update(entry.message_ids)
                self._telemetry.failed_write(self._history.table, entry.key, entry.message_ids, result.error)
        return unrecorded

    def _run_all(self, calls: list[Callable[[], WriteResult]], context) -> list[WriteResult]:
        """The writes' results, in order; a write unfinished near the function's timeout has failed."""
        if not calls:
            return []
        futures = [self._writers.submit(call) for call in calls]
        done, unfinished = wait(futures, timeout=_seconds_left(context))
        for future in unfinished:
            future.cancel()  # one still queued is never sent; one running ends within the client's timeouts
        return [_result(future) if future in done else _TIMED_OUT for future in futures]

    def _account(
        self, write: KeyWrite, result: WriteResult, unrecorded: set[str], counts: BatchCounts, failed_ids: set[str]
    ) -> None:
        """Count each record of the key once, and fail those that are neither kept nor recorded."""
        outcome = result.outcome
        if outcome is Outcome.FAILED:
            # The key's other records were only dropped because the newest supersedes
            # them: until it is stored, all of them stay on the queue.
            message_ids = [notification.message_id for notification in write.notifications]
            counts.failed += len(message_ids)
            failed_ids.update(message_ids)
            table = self._tables[write.newest.kind]
            self._telemetry.failed_write(table, write.newest.key, message_ids, result.error)
            return
        others = "stale" if outcome is Outcome.STALE else "duplicate"
        counted = [(write.newest, _NEWEST_COUNTS[outcome])]
        counted += [(notification, others) for notification in write.duplicates]
        counted += [(notification, "stale") for notification in write.stale]
        for notification, count in counted:
            if notification.message_id in unrecorded:
                count = "failed"  # stored or superseded, but missing from the history: try again
                failed_ids.add(notification.message_id)
            setattr(counts, count, getattr(counts, count) + 1)


def _result(future: Future) -> WriteResult:
    error = future.exception()
    if error is not None:  # write_if_newer answers for DynamoDB; this is anything else
        return WriteResult(Outcome.FAILED, f"{type(error).__name__}: {error}")
    return future.result()


def _seconds_left(context) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else max(0.0, remaining() / 1000 - DEADLINE_MARGIN_SECONDS)
