"""What the processor tells its operators: JSON lines on stdout, never a message body.

Per batch, one line in CloudWatch Embedded Metric Format: CloudWatch turns its
counts into metrics (the stack's dashboard graphs them) and the same line is the
batch's log record. Per invalid record and per failed write, one line with the
messageId(s) and the reason; writes left unfinished at the function's timeout, and
tables the processor cannot use, one line per batch. Lines go to stdout unformatted,
because EMF is only recognised in a log event that is JSON as a whole.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass

# The stack's default (stacks/config.py uses this one); the function's METRICS_NAMESPACE overrides it.
DEFAULT_METRICS_NAMESPACE = "DeadlineNotifications"
# BatchCounts' fields -> the metrics' names (unit Count, dimension FunctionName).
METRIC_NAMES = {
    "received": "Received",
    "stored": "Stored",
    "duplicate": "Duplicate",
    "stale": "Stale",
    "invalid": "Invalid",
    "failed": "Failed",
}


@dataclass
class BatchCounts:
    """What became of each record of a batch; every record is counted exactly once."""

    received: int = 0
    stored: int = 0
    duplicate: int = 0
    stale: int = 0
    invalid: int = 0
    failed: int = 0


class Telemetry:
    def __init__(self, namespace: str, function_name: str, stream=None):
        self.namespace = namespace
        self.function_name = function_name
        self._stream = stream

    def _emit(self, record: dict) -> None:
        stream = self._stream or sys.stdout  # looked up per line: callers may redirect stdout
        stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        stream.flush()

    def invalid_record(self, message_id: str, reason: str) -> None:
        self._emit({"level": "WARNING", "event": "invalid_notification", "messageId": message_id, "reason": reason})

    def failed_write(self, table: str, key: tuple, message_ids: list[str], error: str) -> None:
        self._emit({
            "level": "ERROR",
            "event": "write_failed",
            "table": table,
            "key": list(key),
            "messageIds": message_ids,
            "error": error,
        })

    def unfinished_writes(self, keys: int, message_count: int, error: str, table: str | None = None) -> None:
        """One line for every write of the batch still unanswered (thousands, at the largest batches):
        the tables' keys, or with `table` the history's entries."""
        line = {"level": "ERROR", "event": "write_failed", "keys": keys, "messages": message_count, "error": error}
        self._emit(line if table is None else {**line, "table": table})

    def tables_unusable(self, reason: str) -> None:
        self._emit({"level": "ERROR", "event": "tables_unusable", "reason": reason})

    def batch(self, counts: BatchCounts, request_id: str | None) -> None:
        self._emit({
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": "Count"} for name in METRIC_NAMES.values()],
                }],
            },
            "FunctionName": self.function_name,
            "level": "INFO",
            "event": "batch_processed",
            "requestId": request_id,
            **{METRIC_NAMES[field]: value for field, value in asdict(counts).items()},
        })
