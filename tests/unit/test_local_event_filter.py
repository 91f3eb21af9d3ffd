"""The local stand-in for Lambda's event filtering: the template's patterns, as Lambda applies them."""

from __future__ import annotations

import pytest

from farm_health.failures import FILTER_PATTERN
from local_pipeline.event_filter import filtered, matches
from local_pipeline.spec import SpecError
from tests.unit.farm_health_support import START, history_image, history_record


def test_the_deployed_pattern_passes_failed_task_inserts_only(documented_task_message, pipeline_spec):
    (pattern,) = pipeline_spec.farm_health.filter_patterns
    assert pattern == FILTER_PATTERN
    image = history_image(documented_task_message, "job-a", 1, START, "render007")
    completed = history_image(documented_task_message, "job-a", 1, START, "render007", status="Completed")
    assert matches(pattern, history_record(image))
    assert not matches(pattern, history_record(image, "MODIFY"))
    assert not matches(pattern, history_record(completed))


def test_a_batch_is_handed_on_with_only_its_matching_records_and_never_empty(documented_task_message):
    handed = []
    handler = filtered(lambda event, context: handed.append(event["Records"]) or {"batchItemFailures": []}, [FILTER_PATTERN])
    failed = history_record(history_image(documented_task_message, "job-a", 1, START, "render007"))
    done = history_record(history_image(documented_task_message, "job-a", 2, START, "render007", status="Completed"))
    assert handler({"Records": [done, failed, done]}, None) == {"batchItemFailures": []}
    assert handler({"Records": [done]}, None) == {"batchItemFailures": []}
    assert handed == [[failed]]


def test_a_pattern_the_stand_in_has_no_model_of_fails_loudly():
    with pytest.raises(SpecError, match="prefix"):
        matches({"eventName": [{"prefix": "IN"}]}, {"eventName": "INSERT"})
