"""The patched moto SQS counts: one GetQueueAttributes call counts every message exactly once."""

from __future__ import annotations

import itertools

import pytest
from moto.sqs import models

from local_pipeline import moto_speedups

NAMES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]


# moto reads the clock several times per call; each offset puts the end of the message's
# visibility timeout after a different read, so every pair of reads is tried.
@pytest.mark.parametrize("becomes_visible_after_read", range(30))
def test_a_message_whose_visibility_ends_during_the_call_is_counted_once(becomes_visible_after_read, monkeypatch):
    moto_speedups.speed_up_moto_sqs()
    backend = models.SQSBackend("us-east-1", "123456789012")
    backend.create_queue("counted")
    message = backend.send_message("counted", "in flight")
    ticks = itertools.count(1_000_000)  # every clock read is 1 ms after the one before
    monkeypatch.setattr(moto_speedups, "_clock_millis", lambda: float(next(ticks)))
    message.visible_at = 1_000_000 + becomes_visible_after_read + 0.5

    counts = backend.get_queue_attributes("counted", NAMES)
    assert sum(counts[name] for name in NAMES) == 1
