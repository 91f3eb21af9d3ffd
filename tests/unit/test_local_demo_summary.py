"""The demo's summary: failed writes are explained, and called harmless only when the check passed."""

from __future__ import annotations

import json

import pytest

from local_pipeline.demo import DemoReport, summary
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.processor_output import ProcessorOutput

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
