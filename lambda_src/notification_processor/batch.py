"""One Lambda SQS event in, `batchItemFailures` out: the processor's whole flow.

Parse every record (bad ones are reported, never raised), reduce to the newest
notification per key, write those concurrently with conditional PutItems, and
report exactly the records that are neither stored nor superseded by what is stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait

from .notifications import InvalidNotification, parse_record
from .reduction import KeyWrite, newest_per_key
from .roles import TABLE_ROLES
from .store import Outcome, WriteResult, dynamodb_client, write_if_newer
from .telemetry import DEFAULT_METRICS_NAMESPACE, BatchCounts, Telemetry

METRICS_NAMESPACE_VARIABLE = "METRICS_NAMESPACE"
LOCAL_FUNCTION_NAME = "local"
# Time kept back from the function's timeout to report on writes that are still running.
DEADLINE_MARGIN_SECONDS = 1.0
_TIMED_OUT = WriteResult(Outcome.FAILED, "no answer before the function's timeout")


class ConfigurationError(RuntimeError):
    """The processor's environment does not say where to store notifications."""


class BatchProcessor:
    """Stores the notifications of Lambda SQS events in the job and task tables.

    `tables` names the table of each role (roles.TABLE_ROLES' keys). `client` is a boto3
    DynamoDB client (thread-safe, shared by the concurrent writes, which are as many as
    its max_pool_connections); `log_stream` defaults to stdout.
    """

    def __init__(
        self,
        client,
        tables: Mapping[str, str],
        *,
        metrics_namespace: str = DEFAULT_METRICS_NAMESPACE,
        function_name: str = LOCAL_FUNCTION_NAME,
        log_stream=None,
    ):
        missing = TABLE_ROLES.keys() - tables.keys()
        if missing:
            raise ConfigurationError(f"no table for {', '.join(sorted(missing))} notifications")
        self._client = client
        self._tables = {kind: tables[kind] for kind in TABLE_ROLES}
        # Threads start on demand and are reused by later events (a container handles many).
        self._writers = ThreadPoolExecutor(max_workers=client.meta.config.max_pool_connections)
        self._telemetry = Telemetry(metrics_namespace, function_name, log_stream)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, client=None) -> BatchProcessor:
        """Configured as on Lambda: table names, namespace and function name from `environ`.

        Every table's variable must be set: a missing one raises ConfigurationError, so
        a misconfigured function fails clearly instead of writing to a default table.
        """
        missing = [role.environment_variable for role in TABLE_ROLES.values() if not environ.get(role.environment_variable)]
        if missing:
            raise ConfigurationError(
                f"the environment does not name the tables: set {' and '.join(missing)} "
                "(the stack sets them; a hand-made function needs them too)"
            )
        return cls(
            client or dynamodb_client(),
            {kind: environ[role.environment_variable] for kind, role in TABLE_ROLES.items()},
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
        for write, result in zip(writes, self._write_all(writes, context), strict=True):
            self._account(write, result, counts, failed_ids)
        self._telemetry.batch(counts, getattr(context, "aws_request_id", None))
        in_batch_order = dict.fromkeys(record["messageId"] for record in records)
        return {
            "batchItemFailures": [{"itemIdentifier": message_id} for message_id in in_batch_order if message_id in failed_ids]
        }

    def _write_all(self, writes: list[KeyWrite], context) -> list[WriteResult]:
        """The writes' results, in order; a write unfinished near the function's timeout has failed."""
        if not writes:
            return []
        futures = [
            self._writers.submit(write_if_newer, self._client, self._tables[write.newest.kind], write.newest)
            for write in writes
        ]
        done, unfinished = wait(futures, timeout=_seconds_left(context))
        for future in unfinished:
            future.cancel()  # one still queued is never sent; one running ends within the client's timeouts
        return [_result(future) if future in done else _TIMED_OUT for future in futures]

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
        else:
            # The key's other records were only dropped because the newest supersedes
            # them: until it is stored, all of them stay on the queue.
            message_ids = [notification.message_id for notification in write.notifications]
            counts.failed += len(message_ids)
            failed_ids.update(message_ids)
            table = self._tables[write.newest.kind]
            self._telemetry.failed_write(table, write.newest.key, message_ids, result.error)


def _result(future: Future) -> WriteResult:
    error = future.exception()
    if error is not None:  # write_if_newer answers for DynamoDB; this is anything else
        return WriteResult(Outcome.FAILED, f"{type(error).__name__}: {error}")
    return future.result()


def _seconds_left(context) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return None if remaining is None else max(0.0, remaining() / 1000 - DEADLINE_MARGIN_SECONDS)
