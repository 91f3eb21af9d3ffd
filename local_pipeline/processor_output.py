"""The processor's stdout, read as CloudWatch would: Embedded Metric Format lines become counts.

The processor writes one JSON line per batch in EMF (Received, Stored, Duplicate,
Stale, Invalid, Failed) and a line per invalid record or failed write. Locally this
stream stands in for stdout while the handler runs and adds up the metrics, so the
demo reports the processor's own counts. The publisher's lines (events_published, ...)
share it; `line_bytes` says how much each kind of line took, as CloudWatch Logs bills it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter


class ProcessorOutput:
    """A write-only text stream that sums EMF metrics and keeps the other JSON lines' events."""

    def __init__(self):
        self.metrics: Counter = Counter()
        self.events: Counter = Counter()  # the "event" field of every line
        self.line_bytes: Counter = Counter()  # bytes of the lines, by their "event" field
        self.write_errors: Counter = Counter()  # failed writes by the "error" of their write_failed line
        self.other_lines: list[str] = []  # anything that is not a JSON object (kept for diagnosis)
        self._partial = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            *lines, self._partial = (self._partial + text).split("\n")
            for line in lines:
                self._read(line)
        return len(text)

    def flush(self) -> None:
        pass

    def _read(self, line: str) -> None:
        if not line.strip():
            return
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            self.other_lines.append(line)
            return
        self.events[record.get("event")] += 1
        self.line_bytes[record.get("event")] += len(line.encode()) + 1
        if "error" in record:  # a line per failed key, or one for all of a batch's unfinished keys
            self.write_errors[str(record["error"])] += record.get("keys", 1)
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                value = record.get(metric["Name"], 0)
                # EMF allows a list of values for one metric.
                self.metrics[metric["Name"]] += sum(value) if isinstance(value, list) else value
