"""The demo's summary and progress: failed writes are explained (harmless only when the check passed), every
count matches what is listed, and the progress bar stays between 0 and its total."""

from __future__ import annotations

import io
import json
import warnings

import pytest
from tqdm import tqdm

from local_pipeline import demo
from local_pipeline.demo import SHOWN_ALERTS, DemoReport, StatusEventsReport, summary
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.processor_output import ProcessorOutput
from local_pipeline.stream_source import StreamStats

TIMEOUT_ERROR = "no answer before the function's timeout"


def report_with_failed_writes(problems: list[str]) -> DemoReport:
    traffic = generate(TrafficSettings(seed=1, jobs=1, tasks_per_job=2, malformed_per_kind=0))
    output = ProcessorOutput()
    for _ in range(3):
        output.write(json.dumps({"event": "write_failed", "error": TIMEOUT_ERROR}) + "\n")
    seconds = {"total": 1.0, "engines": 0.1, "send": 0.1, "process": 0.1, "check": 0.1}
    return DemoReport(traffic, traffic.truth, [], output, problems, seconds)


@pytest.mark.parametrize(
    "problems, expected",
    [
        ([], "failed writes: 3, each retried from the queue and stored, so nothing was lost"),
        (["job x: missing"], "failed writes: 3, each left on the queue for another try"),
    ],
)
def test_failed_writes_are_explained(problems, expected):
    text = summary(report_with_failed_writes(problems))
    line = next(line for line in text.splitlines() if "failed writes" in line)
    assert expected in line and TIMEOUT_ERROR in line and "--visibility-timeout" in line
    assert ("nothing was lost" in line) == (not problems)


@pytest.mark.parametrize("alerts", [SHOWN_ALERTS, SHOWN_ALERTS + 3])
def test_the_alert_count_matches_the_lines_listed_or_says_how_many_more(alerts):
    report = report_with_failed_writes([])
    messages = [f"Deadline job {number} is Failed" for number in range(alerts)]
    report.status_events = StatusEventsReport([], messages, {"Failed"}, 0, StreamStats())
    lines = summary(report).splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("Job alerts"))
    assert lines[start].endswith(f": {alerts}")
    listed = [line for line in lines[start + 1:] if line.startswith("  Deadline job")]
    more = [line for line in lines[start + 1:] if line.startswith("  ... and ")]
    assert len(listed) == SHOWN_ALERTS
    assert more == ([f"  ... and {alerts - SHOWN_ALERTS} more"] if alerts > SHOWN_ALERTS else [])


class ApproximateQueue:
    """Answers GetQueueAttributes with counts as SQS's approximate ones can be: over the messages sent, then fewer."""

    def __init__(self, depths: list[int]):
        self.depths = depths

    def get_queue_attributes(self, QueueUrl, AttributeNames):
        return {"Attributes": {"ApproximateNumberOfMessages": str(self.depths.pop(0))}}


def test_the_progress_bar_never_goes_below_zero_nor_past_its_total(monkeypatch):
    monkeypatch.setattr(demo.time, "sleep", lambda seconds: None)
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's "clamping frac to range [0, 1]" is a warning
        with tqdm(total=10, file=io.StringIO(), mininterval=0) as bar:
            real_update = bar.update
            bar.update = lambda step: (real_update(step), seen.append(bar.n))
            demo._wait_until_drained(ApproximateQueue([12, 11, 4, 6, 0]), "queue", bar, 60, source=None)
    assert seen == sorted(seen) and min(seen) >= 0 and max(seen) == 10
