"""The local time scale: the visibility timeout chosen from the handler's measured batch time."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from local_pipeline.pipeline import (
    LOCAL_TIME_LIMIT_FACTOR,
    MIN_LOCAL_VISIBILITY_TIMEOUT,
    choose_visibility_timeout,
    warm_up_bodies,
)
from notification_processor.batch import DEADLINE_MARGIN_SECONDS


def _time_limit_left(visibility_timeout: int, spec) -> float:
    """What the handler has for its writes: the visibility timeout less the scaled batching window, less the
    processor's margin (as LocalPipeline.processing and the processor compute it)."""
    window = spec.max_batching_window_seconds * visibility_timeout / spec.queue.visibility_timeout
    return visibility_timeout - window - DEADLINE_MARGIN_SECONDS


def test_a_fast_machine_gets_the_floor(pipeline_spec):
    assert choose_visibility_timeout(0.0, pipeline_spec) == MIN_LOCAL_VISIBILITY_TIMEOUT
    assert choose_visibility_timeout(0.3, pipeline_spec) == MIN_LOCAL_VISIBILITY_TIMEOUT


@pytest.mark.parametrize("slowest", [0.5, 0.92, 1.9, 3.0, 7.5, 20.0])
def test_the_handler_gets_the_factor_times_its_slowest_batch_and_not_much_more(pipeline_spec, slowest):
    chosen = choose_visibility_timeout(slowest, pipeline_spec)
    assert _time_limit_left(chosen, pipeline_spec) >= LOCAL_TIME_LIMIT_FACTOR * slowest
    if chosen > MIN_LOCAL_VISIBILITY_TIMEOUT:  # a second less would not do: no more than needed
        assert _time_limit_left(chosen - 1, pipeline_spec) < LOCAL_TIME_LIMIT_FACTOR * slowest


def test_a_slower_machine_never_gets_less_time(pipeline_spec):
    chosen = [choose_visibility_timeout(tenths / 10, pipeline_spec) for tenths in range(0, 200)]
    assert chosen == sorted(chosen)


def test_a_longer_batching_window_leaves_the_same_room(pipeline_spec):
    # The window grows with the timeout, so a template with a longer one gets a longer timeout, not less room.
    wide = replace(pipeline_spec, max_batching_window_seconds=60)
    chosen = choose_visibility_timeout(2.0, wide)
    assert chosen > choose_visibility_timeout(2.0, pipeline_spec)
    assert _time_limit_left(chosen, wide) >= LOCAL_TIME_LIMIT_FACTOR * 2.0


@pytest.mark.parametrize("count", [1, 20, 300, 600, 2000])
def test_the_warm_up_batches_are_valid_notifications(count):
    bodies = warm_up_bodies(count)
    assert len(bodies) == count
    assert all("NotificationInfo" in json.loads(body) for body in bodies)
