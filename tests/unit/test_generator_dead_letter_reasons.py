"""The generator and the processor agree: every malformed kind is rejected with a reason, nothing else is."""

from __future__ import annotations

from deadline_sqs.dead_letters import STORABLE, rejection_reason
from local_pipeline.generator import MALFORMED_KINDS, TrafficSettings, generate
from tests.unit.processor_support import SENT_BASE_MS

ATTRIBUTES = {"SentTimestamp": str(SENT_BASE_MS), "ApproximateReceiveCount": "5"}


def test_the_processor_rejects_each_malformed_kind_and_accepts_every_notification():
    traffic = generate(TrafficSettings(seed=21, jobs=3, tasks_per_job=6, duplicate_rate=0.2, malformed_per_kind=1))
    reasons = {}
    for number, message in enumerate(traffic.messages):
        reason = rejection_reason(f"message-{number}", message.body, ATTRIBUTES)
        if message.invalid:
            reasons[message.invalid] = reason
        else:
            assert reason == STORABLE, message.body[:200]
    assert set(reasons) == set(MALFORMED_KINDS)
    assert STORABLE not in reasons.values()
    # The reasons say what is wrong, in the processor's words.
    assert "JSON" in reasons["not_json"]
    assert "Timestamp" in reasons["bad_timestamp"] and "Timestamp" in reasons["missing_timestamp"]
    assert "TaskID" in reasons["non_integer_task_id"]
    assert "400 KB" in reasons["oversized"]
