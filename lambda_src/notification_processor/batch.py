"""One Lambda SQS event in, `batchItemFailures` out: the processor's whole flow.

Check once that the tables have the keys of their roles, parse every record (bad
ones are reported, never raised), reduce to the newest notification per key, write
those concurrently, up to 25 keys per request with conditional PartiQL statements
(statements.py), each key DynamoDB does not settle that way with a conditional PutItem
(store.py; a notification DynamoDB refuses as invalid is reported and the key's next
newest written in its place); with a history table, every distinct notification to it
as well (history.py), sent beside the tables' first requests and under the same deadline;
and report exactly the records that are neither stored nor superseded by what is stored
(nor, with a history, in it).
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from .history import History, HistoryEntry, history_entries, write_entries
from .memory import StoredItems
from .notifications import DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS, InvalidNotification, parse_record
from .reduction import KeyWrite, newest_per_key
from .roles import HISTORY_DAYS_VARIABLE, HISTORY_TABLE_VARIABLE, TABLE_ROLES
from .statements import (
    MAX_STATEMENT_ATTEMPTS,
    MAX_STATEMENTS_PER_REQUEST,
    Answer,
    StatementResult,
    StatementSender,
    backoff_seconds,
    read_answer,
    statement,
    stored_of,
)
from .store import (
    Outcome,
    TableCheckError,
    WriteResult,
    dynamodb_client,
    error_text,
    key_schema_problem,
    write_if_newer,
)
from .telemetry import DEFAULT_METRICS_NAMESPACE, BatchCounts, Telemetry

METRICS_NAMESPACE_VARIABLE = "METRICS_NAMESPACE"
MAX_TIMESTAMP_AHEAD_VARIABLE = "MAX_TIMESTAMP_AHEAD_SECONDS"
LOCAL_FUNCTION_NAME = "local"
# Time kept back from the function's timeout to stop waiting for writes and answer: a
# fixed part (the writes in flight finishing their CPU work, the last log lines) and a part
# per write still unfinished, whose records are then accounted and reported (bench/deadline.py).
DEADLINE_MARGIN_SECONDS = 1.0
DEADLINE_MARGIN_PER_UNFINISHED_WRITE_SECONDS = 0.0001
UNFINISHED_ERROR = "no answer before the function's timeout"
# What a record of a key whose write neither failed nor was refused counts as, by the key's outcome.
_NEWEST_COUNTS = {Outcome.STORED: "stored", Outcome.DUPLICATE: "duplicate", Outcome.STALE: "stale"}
# A key's statements before its PutItem path decides: enough for a key another container
# or invocation keeps changing, bounded so that it cannot go round for ever.
MAX_STATEMENTS_PER_KEY = 4

# One key's writes, in order: the newest notification, then each next newest DynamoDB refused.
Attempts = list[tuple[KeyWrite, WriteResult]]


class ConfigurationError(RuntimeError):
    """The processor's environment does not say where to store notifications."""


class InvalidEvent(ValueError):
    """The event is not a Lambda SQS event: no record of it can be reported on its own."""


class BatchProcessor:
    """Stores the notifications of Lambda SQS events in the job and task tables.

    `tables` names the table of each role (roles.TABLE_ROLES' keys); `history`, if given,
    the history table and its entries' lifetime. `client` is a boto3
    DynamoDB client (thread-safe, shared by the concurrent writes, which are as many as
    its max_pool_connections); `log_stream` defaults to stdout. A notification whose
    Timestamp is more than `max_timestamp_ahead_seconds` after SQS received it is invalid.
    `statements=False` writes every key with its own conditional PutItem, the earlier
    strategy (bench/ compares the two; the stored items are the same, but for attributes
    another writer added: docs/processor.md, "Attributes added out of band").
    """

    def __init__(
        self,
        client,
        tables: Mapping[str, str],
        *,
        history: History | None = None,
        metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        function_name: str = LOCAL_FUNCTION_NAME,
        max_timestamp_ahead_seconds: int = DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS,
        log_stream=None,
        statements: bool = True,
    ):
        missing = TABLE_ROLES.keys() - tables.keys()
        if missing:
            raise ConfigurationError(f"no table for {', '.join(sorted(missing))} notifications")
        self._client = client
        self._tables = {kind: tables[kind] for kind in TABLE_ROLES}
        self._history = history
        self._read = functools.partial(parse_record, max_timestamp_ahead_seconds=max_timestamp_ahead_seconds)
        # Threads start on demand and are reused by later events (a container handles many).
        self._writers = ThreadPoolExecutor(max_workers=client.meta.config.max_pool_connections)
        self._memory = StoredItems()
        self._statements = statements
        self._sender = StatementSender(client)
        self._telemetry = Telemetry(metrics_namespace, function_name, log_stream)
        self._tables_checked = False
        self._tables_problem: str | None = None
        self._tables_check_lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> BatchProcessor:
        """Configured as on Lambda: tables, clock tolerance, namespace and function name from `environ`.

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
        tolerance = environ.get(MAX_TIMESTAMP_AHEAD_VARIABLE, str(DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS))
        if not tolerance.isascii() or not tolerance.isdigit():
            raise ConfigurationError(f"{MAX_TIMESTAMP_AHEAD_VARIABLE}={tolerance!r} is not a whole number of seconds")
        history = None
        if environ.get(HISTORY_TABLE_VARIABLE):
            days = environ.get(HISTORY_DAYS_VARIABLE, "")
            if not days.isascii() or not days.isdigit() or not int(days):
                raise ConfigurationError(f"{HISTORY_DAYS_VARIABLE} must be a whole number of days, not {days!r}")
            history = History(environ[HISTORY_TABLE_VARIABLE], int(days))
        return cls(
            client or dynamodb_client(),
            {kind: environ[role.environment_variable] for kind, role in TABLE_ROLES.items()},
            history=history,
            metrics_namespace=environ.get(METRICS_NAMESPACE_VARIABLE, DEFAULT_METRICS_NAMESPACE),
            function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", LOCAL_FUNCTION_NAME),
            max_timestamp_ahead_seconds=int(tolerance),
        )

    def handle(self, event: dict, context=None) -> dict:
        """Process one Lambda SQS event; returns {"batchItemFailures": [{"itemIdentifier": id}, ...]}.

        Raises InvalidEvent for what Lambda never sends: no Records list, or a record
        without a messageId (it could not be reported as failed).
        """
        records = _records(event)
        counts = BatchCounts(received=len(records))
        failed_ids: set[str] = set()
        problem = self._check_tables()
        if problem is None:
            self._store(records, context, counts, failed_ids)
        else:
            self._telemetry.tables_unusable(problem)
            counts.failed = len(records)
            failed_ids.update(record["messageId"] for record in records)
        self._telemetry.batch(counts, getattr(context, "aws_request_id", None))
        in_batch_order = dict.fromkeys(record["messageId"] for record in records)
        return {
            "batchItemFailures": [{"itemIdentifier": message_id} for message_id in in_batch_order if message_id in failed_ids]
        }

    def _check_tables(self) -> str | None:
        """Why the tables cannot be used, or None. Checked once per processor (a Lambda container);
        if DynamoDB does not answer, the batch fails and the next event checks again."""
        with self._tables_check_lock:
            if not self._tables_checked:
                try:
                    problems = [key_schema_problem(self._client, table, TABLE_ROLES[kind]) for kind, table in self._tables.items()]
                except TableCheckError as error:
                    return str(error)
                self._tables_problem = "; ".join(problem for problem in problems if problem) or None
                self._tables_checked = True
            return self._tables_problem

    def _store(self, records: list[dict], context, counts: BatchCounts, failed_ids: set[str]) -> None:
        valid = []
        for parsed in map(self._read, records):
            if isinstance(parsed, InvalidNotification):
                self._invalid(parsed.message_id, parsed.reason, counts, failed_ids)
            else:
                valid.append(parsed)
        writes = newest_per_key(valid)
        groups: list[list[HistoryEntry]] = []
        if self._history:
            entries = history_entries(valid, time.time(), self._history.days)
            groups = [entries[start:start + MAX_STATEMENTS_PER_REQUEST]
                      for start in range(0, len(entries), MAX_STATEMENTS_PER_REQUEST)]
        key_attempts, recorded = self._write_all(writes, groups, context)
        unrecorded = self._unrecorded(groups, recorded)
        unfinished_keys = unfinished_messages = 0
        for write, attempts in zip(writes, key_attempts, strict=True):
            if attempts is None:
                message_ids = [notification.message_id for notification in write.notifications]
                unfinished_keys += 1
                unfinished_messages += len(message_ids)
                counts.failed += len(message_ids)
                failed_ids.update(message_ids)
                continue
            for attempt, result in attempts:
                self._account(attempt, result, unrecorded, counts, failed_ids)
        if unfinished_keys:
            self._telemetry.unfinished_writes(unfinished_keys, unfinished_messages, UNFINISHED_ERROR)

    def _unrecorded(self, groups: list[list[HistoryEntry]], recorded: list[Future]) -> set[str]:
        """The message ids whose history entry could not be written: each failure logged, the
        entries unfinished at the function's timeout in one line."""
        unrecorded: set[str] = set()
        table = self._history.table if self._history else ""
        unfinished = unfinished_messages = 0
        for group, future in zip(groups, recorded, strict=True):
            if not future.done() or future.cancelled():
                unfinished += len(group)
                unfinished_messages += sum(len(entry.message_ids) for entry in group)
                unrecorded.update(message_id for entry in group for message_id in entry.message_ids)
                continue
            error = future.exception()  # write_entries answers for DynamoDB; this is anything else
            results = [WriteResult(Outcome.FAILED, error_text(error))] * len(group) if error else future.result()
            for entry, result in zip(group, results, strict=True):
                if result.outcome in (Outcome.FAILED, Outcome.REFUSED):
                    unrecorded.update(entry.message_ids)
                    self._telemetry.failed_write(table, entry.key, entry.message_ids, result.error)
        if unfinished:
            self._telemetry.unfinished_writes(unfinished, unfinished_messages, UNFINISHED_ERROR, table)
        return unrecorded

    def _invalid(self, message_id: str, reason: str, counts: BatchCounts, failed_ids: set[str]) -> None:
        counts.invalid += 1
        if message_id not in failed_ids:  # a message delivered twice in one batch is logged once
            self._telemetry.invalid_record(message_id, reason)
        failed_ids.add(message_id)

    def _write_all(
        self, writes: list[KeyWrite], history: list[list[HistoryEntry]], context
    ) -> tuple[list[Attempts | None], list[Future]]:
        """Each key's attempts, in order (None for a key unfinished near the function's timeout),
        and the futures of the history's groups of entries (history.write_entries).

        Rounds of requests, sent at once: each round's answers decide which keys are done
        and how the others are written in the next (statements.py, store.py). The history's
        requests go out with the first round, one after each of its requests, so that near
        the deadline the records whose table writes were sent had their history's sent too.
        """
        keys = [_KeyState(write, self._tables[write.newest.kind]) for write in writes]
        table = self._history.table if self._history else ""
        beside = [functools.partial(write_entries, self._sender, self._client, table, group) for group in history]
        recorded: list[Future] = []
        pending = keys
        while pending:
            sent = self._send_round(pending, beside, recorded)
            beside = []
            in_time = self._wait([future for future, _ in sent], context, len(pending))
            for future, handler in sent:
                if future.done() and not future.cancelled():
                    handler(future)
            if not in_time:
                break
            pending = [key for key in pending if not key.done]
        self._wait(recorded, context, sum(map(len, history)))
        return [key.attempts if key.done else None for key in keys], recorded

    def _send_round(
        self, pending: list[_KeyState], beside: list[Callable[[], list[WriteResult]]], recorded: list[Future]
    ) -> list[tuple[Future, functools.partial]]:
        """Submit a round of the keys' requests, each followed by one of `beside` (their futures into `recorded`)."""
        sent = []
        by_statement = []
        for key in pending:
            key.by_put = key.by_put or not self._statements
            known = None if key.by_put else self._memory.get(key.table, key.write.newest.key)
            text = None if key.by_put else statement(key.table, TABLE_ROLES[key.write.newest.kind], key.write.newest, known)
            if text is None:
                key.by_put = True
                sent.append((self._writers.submit(self._write_key, key.write), functools.partial(self._put_done, key)))
            else:
                key.statements_sent += 1
                key.inserted = known is None
                by_statement.append((key, text))
        starts = range(0, len(by_statement), MAX_STATEMENTS_PER_REQUEST)
        submitted = 0
        for number, start in enumerate(starts, 1):
            group = by_statement[start:start + MAX_STATEMENTS_PER_REQUEST]
            delay = max(backoff_seconds(key.retries) for key, _ in group)
            future = self._writers.submit(self._execute, [text for _, text in group], delay)
            sent.append((future, functools.partial(self._statements_done, [key for key, _ in group])))
            # The history's requests in step with the tables' (entries are in the batch's order, as keys are).
            due = len(beside) * number // len(starts)
            recorded.extend(self._writers.submit(call) for call in beside[submitted:due])
            submitted = due
        recorded.extend(self._writers.submit(call) for call in beside[submitted:])
        return sent

    def _wait(self, futures: list[Future], context, unfinished_keys: int) -> bool:
        """Wait for `futures`; False (the rest cancelled) if the function's timeout comes first."""
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        for future in futures:
            future.add_done_callback(finished.put)
        for _ in futures:
            try:
                finished.get(timeout=_seconds_to_wait(context, unfinished_keys))
            except queue.Empty:
                for future in futures:
                    future.cancel()  # one still queued is never sent; one running ends within the client's timeouts
                return False
        return True

    def _execute(self, statements: list[dict], delay: float) -> list[dict]:
        if delay:
            time.sleep(delay)
        return self._sender.send(statements)

    def _statements_done(self, keys: list[_KeyState], future: Future) -> None:
        try:
            responses = future.result()
        except Exception:  # the whole request failed (after botocore's retries): each key's PutItem decides alone
            for key in keys:
                key.by_put = True
            return
        for key, response in zip(keys, responses, strict=True):
            self._statement_answered(key, read_answer(key.write.newest, key.inserted, response))

    def _statement_answered(self, key: _KeyState, result: StatementResult) -> None:
        newest = key.write.newest
        answer = result.answer
        if answer is Answer.RETRY:
            key.retries += 1
            if key.retries >= MAX_STATEMENT_ATTEMPTS:
                key.finish(WriteResult(Outcome.FAILED, result.error))
            return
        if answer in (Answer.STORED, Answer.NOT_NEWER, Answer.CHANGED):
            self._memory.learn(key.table, newest.key, result.stored)
        else:
            self._memory.learn(key.table, newest.key, None)
        if answer is Answer.STORED:
            key.finish(WriteResult(Outcome.STORED))
        elif answer is Answer.NOT_NEWER:
            same = result.stored is not None and result.stored.order == newest.order
            key.finish(WriteResult(Outcome.DUPLICATE if same else Outcome.STALE))
        elif answer in (Answer.EXISTS, Answer.OTHER) or key.statements_sent >= MAX_STATEMENTS_PER_KEY:
            key.by_put = True

    def _put_done(self, key: _KeyState, future: Future) -> None:
        attempts = future.result()  # _write_key answers for every error
        key.attempts.extend(attempts)
        key.done = True
        write, result = attempts[-1]
        stored = stored_of(write.newest.item) if result.outcome is Outcome.STORED else result.stored
        self._memory.learn(key.table, write.newest.key, stored)

    def _write_key(self, write: KeyWrite) -> Attempts:
        """Write the key's newest notification; while DynamoDB refuses one as invalid, the next newest."""
        table = self._tables[write.newest.kind]
        attempts: Attempts = []
        current: KeyWrite | None = write
        while current is not None:
            try:
                result = write_if_newer(self._client, table, current.newest)
            except Exception as error:  # write_if_newer answers for DynamoDB; this is anything else
                result = WriteResult(Outcome.FAILED, error_text(error))
            attempts.append((current, result))
            current = current.next_newest() if result.outcome is Outcome.REFUSED else None
        return attempts

    def _account(
        self, write: KeyWrite, result: WriteResult, unrecorded: set[str], counts: BatchCounts, failed_ids: set[str]
    ) -> None:
        """Count each record of the key once, and fail those that are neither kept nor recorded."""
        outcome = result.outcome
        if outcome is Outcome.REFUSED:
            # Only this notification (each delivery of it) is bad; the key's next newest was written in its place.
            for notification in (write.newest, *write.duplicates):
                self._invalid(notification.message_id, f"DynamoDB refused the item: {result.error}", counts, failed_ids)
            return
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


@dataclass
class _KeyState:
    """One key's write across the rounds of `_write_all`."""

    write: KeyWrite
    table: str
    attempts: Attempts = field(default_factory=list)
    done: bool = False
    by_put: bool = False  # the PutItem path writes it (store.py)
    inserted: bool = False  # its last statement was an INSERT
    statements_sent: int = 0
    retries: int = 0

    def finish(self, result: WriteResult) -> None:
        self.attempts.append((self.write, result))
        self.done = True


def _records(event) -> list[dict]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidEvent(
            'the event has no "Records" list: the processor handles Lambda SQS events, {"Records": [...]}'
        )
    for number, record in enumerate(records):
        message_id = record.get("messageId") if isinstance(record, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise InvalidEvent(
                f"record {number} of the event has no messageId, so it could not be reported as failed: "
                "Lambda's SQS records always have one"
            )
    return records


def _seconds_to_wait(context, unfinished_writes: int) -> float | None:
    """How much longer to wait for writes: None without a Lambda context (no timeout)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    margin = DEADLINE_MARGIN_SECONDS + DEADLINE_MARGIN_PER_UNFINISHED_WRITE_SECONDS * unfinished_writes
    return max(0.0, remaining() / 1000 - margin)
