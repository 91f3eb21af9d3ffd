"""How many bytes CloudWatch Logs would ingest for what a handler logs on Lambda.

While a capture runs, its handler is the root logger's only one (as the runtime's is on
Lambda) and stands in for stdout. It counts each record as the Lambda runtime would
write it (text or JSON log format) and each printed line (Embedded Metric Format lines,
`print`); platform_bytes_per_invocation() gives the runtime's own START/END/REPORT lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import uuid
from collections import Counter

TEXT = "Text"
JSON = "JSON"
_REQUEST_ID = str(uuid.UUID(int=0))
_TIME = "2025-01-01T00:00:00.000Z"


def _platform_lines(log_format: str) -> list[str]:
    """One invocation's runtime lines, with representative figures."""
    if log_format == JSON:
        return [
            json.dumps({"time": _TIME, "type": "platform.start", "record": {"requestId": _REQUEST_ID, "version": "$LATEST"}}),
            json.dumps({"time": _TIME, "type": "platform.report", "record": {
                "requestId": _REQUEST_ID,
                "metrics": {"durationMs": 123.45, "billedDurationMs": 124, "memorySizeMB": 256, "maxMemoryUsedMB": 90},
                "status": "success",
            }}),
        ]
    return [
        f"START RequestId: {_REQUEST_ID} Version: $LATEST",
        f"END RequestId: {_REQUEST_ID}",
        f"REPORT RequestId: {_REQUEST_ID}\tDuration: 123.45 ms\tBilled Duration: 124 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 90 MB\t",
    ]


def platform_bytes_per_invocation(log_format: str) -> int:
    return sum(len(line.encode()) + 1 for line in _platform_lines(log_format))


class LogVolume(logging.Handler):
    """Counts log events and bytes; also a stdout stand-in (print and EMF lines are log events too)."""

    def __init__(self, log_format: str):
        super().__init__(logging.DEBUG)
        self.log_format = log_format
        self.events = 0
        self.bytes = 0
        self.bytes_by_source: Counter[str] = Counter()  # top-level logger name, or "stdout"
        self._partial = ""
        self._count_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        if self.log_format == JSON:
            line = json.dumps({
                "timestamp": _TIME, "level": record.levelname, "message": message,
                "logger": record.name, "requestId": _REQUEST_ID,
            })
        else:
            line = f"[{record.levelname}]\t{_TIME}\t{_REQUEST_ID}\t{message}"
        self._count(line, record.name.split(".")[0])

    def write(self, text: str) -> int:
        with self._count_lock:
            *lines, self._partial = (self._partial + text).split("\n")
        for line in lines:
            self._count(line, "stdout")
        return len(text)

    def flush(self) -> None:
        pass

    def _count(self, line: str, source: str) -> None:
        size = len(line.encode()) + 1
        with self._count_lock:
            self.events += 1
            self.bytes += size
            self.bytes_by_source[source] += size


@contextlib.contextmanager
def capture(log_format: str, root_level: int):
    """Count what is logged (root logger at `root_level`, as Lambda sets it) and printed."""
    volume = LogVolume(log_format)
    root = logging.getLogger()
    # On Lambda the runtime's handler is the only one; others would only print here.
    previous_handlers, previous_level = root.handlers[:], root.level
    root.handlers[:] = [volume]
    root.setLevel(root_level)
    previous_stdout, sys.stdout = sys.stdout, volume
    try:
        yield volume
    finally:
        sys.stdout = previous_stdout
        root.setLevel(previous_level)
        root.handlers[:] = previous_handlers
