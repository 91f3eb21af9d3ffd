"""One Lambda SQS event in, `batchItemFailures` out: the processor's whole flow.

Check once that the tables have the keys of their roles, parse every record (bad
ones are reported, never raised), reduce to the newest notification per key, write
those concurrently with conditional PutItems (a notification DynamoDB refuses as
invalid is reported and the key's next newest written in its place), and report
exactly the records that are neither stored nor superseded by what is stored.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

from .notifications import DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS, InvalidNotification, parse_record
from .reduction import KeyWrite, newest_per_key
from .roles import TABLE_ROLES
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

# One key's writes, in order: the newest notification, then each next newest DynamoDB refused.
Attempts = list[tuple[KeyWrite, WriteResult]]


class ConfigurationError(RuntimeError):
    """The processor's environment does not say where to store notifications."""


class InvalidEvent(ValueError):
    """The event is not a Lambda SQS event: no record of it can be reported on its own."""


class BatchProcessor:
    """Stores the notifications of Lambda SQS events in the job and task tables.

    `tables` names the table of each role (roles.TABLE_ROLES' keys). `client` is a boto3
    DynamoDB client (thread-safe, shared by the concurrent writes, which are as many as
    its max_pool_connections); `log_stream` defaults to stdout. A notification whose
    Timestamp is more than `max_timestamp_ahead_seconds` after SQS received it is invalid.
    """

    def __init__(
        self,
        client,
        tables: Mapping[str, str],
        *,
        metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        function_name: str = LOCAL_FUNCTION_NAME,
        max_timestamp_ahead_seconds: int = DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS,
        log_stream=None,
    ):
        missing = TABLE_ROLES.keys() - tables.keys()
        if missing:
            raise ConfigurationError(f"no table for {', '.join(sorted(missing))} notifications")
        self._client = client
        self._tables = {kind: tables[kind] for kind in TABLE_ROLES}
        self._read = functools.partial(parse_record, max_timestamp_ahead_seconds=max_timestamp_ahead_seconds)
        # Threads start on demand and are reused by later events (a container handles many).
        self._writers = ThreadPoolExecutor(max_workers=client.meta.config.max_pool_connections)
        self._telemetry = Telemetry(metrics_namespace, function_name, log_stream)
        self._tables_checked = False
        self._tables_problem: str | None = None
        self._tables_check_lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> BatchProcessor:
        """Configured as on Lambda: tables, clock tolerance, namespace and function name from `environ`.

        Every table's variable must be set: a missing one raises ConfigurationError, so
        a misconfigured function fails clearly instead of writing to a default table.
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
        return cls(
            client or dynamodb_client(),
            {kind: environ[role.environment_variable] for kind, role in TABLE_ROLES.items()},
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
        unfinished_keys = unfinished_messages = 0
        for write, attempts in zip(writes, self._write_all(writes, context), strict=True):
            if attempts is None:
                message_ids = [notification.message_id for notification in write.notifications]
                unfinished_keys += 1
                unfinished_messages += len(message_ids)
                counts.failed += len(message_ids)
                failed_ids.update(message_ids)
                continue
            for attempt, result in attempts:
                self._account(attempt, result, counts, failed_ids)
        if unfinished_keys:
            self._telemetry.unfinished_writes(unfinished_keys, unfinished_messages, UNFINISHED_ERROR)

    def _invalid(self, message_id: str, reason: str, counts: BatchCounts, failed_ids: set[str]) -> None:
        counts.invalid += 1
        if message_id not in failed_ids:  # a message delivered twice in one batch is logged once
            self._telemetry.invalid_record(message_id, reason)
        failed_ids.add(message_id)

    def _write_all(self, writes: list[KeyWrite], context) -> list[Attempts | None]:
        """Each key's attempts, in order; None for a key unfinished near the function's timeout."""
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        futures = []
        for write in writes:
            future = self._writers.submit(self._write_key, write)
            future.add_done_callback(finished.put)
            futures.append(future)
        for unfinished in range(len(futures), 0, -1):
            try:
                finished.get(timeout=_seconds_to_wait(context, unfinished))
            except queue.Empty:
                break
        for future in futures:
            future.cancel()  # one still queued is never sent; one running ends within the client's timeouts
        return [future.result() if future.done() and not future.cancelled() else None for future in futures]

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

    def _account(self, write: KeyWrite, result: WriteResult, counts: BatchCounts, failed_ids: set[str]) -> None:
        outcome = result.outcome
        if outcome is Outcome.STORED:
            counts.stored += 1
            counts.duplicate += len(write.duplicates)
            counts.stale += len(write.stale)
        elif outcome is Outcome.DUPLICATE:
            counts.duplicate += 1 + len(write.duplicates)
            counts.stale += len(write.stale)
        elif outcome is Outcome.STALE:
            counts.stale += len(write.notifications)
        elif outcome is Outcome.REFUSED:
            # Only this notification (each delivery of it) is bad; the key's next newest was written in its place.
            for notification in (write.newest, *write.duplicates):
                self._invalid(notification.message_id, f"DynamoDB refused the item: {result.error}", counts, failed_ids)
        else:
            # The key's other records were only dropped because the newest supersedes
            # them: until it is stored, all of them stay on the queue.
            message_ids = [notification.message_id for notification in write.notifications]
            counts.failed += len(message_ids)
            failed_ids.update(message_ids)
            table = self._tables[write.newest.kind]
            self._telemetry.failed_write(table, write.newest.key, message_ids, result.error)


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
