"""A batch reduced to its newest notification per key, and what the others are."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_processor.notifications import JOB, TASK, Notification, ordering_number
from notification_processor.reduction import newest_per_key


def notification(message_id: str, key: tuple, ticks: int, digest: str = "aa") -> Notification:
    """A job notification for a (job_id,) key, a task notification for (job_id, task_id); `digest` in hex."""
    order = ordering_number(ticks, int(digest, 16))
    return Notification(message_id, JOB if len(key) == 1 else TASK, key, ticks, order, item={})


def test_a_tasks_started_and_stopped_notifications_reduce_to_the_stopped_one():
    started = notification("started", ("j", 0), ticks=100)
    stopped = notification("stopped", ("j", 0), ticks=200)

    for batch in ([started, stopped], [stopped, started]):
        (write,) = newest_per_key(batch)
        assert write.newest is stopped
        assert write.stale == [started]
        assert write.duplicates == []


def test_a_notification_delivered_twice_is_one_write_and_one_duplicate():
    first, copy = notification("m-1", ("j",), 100), notification("m-1", ("j",), 100)
    (write,) = newest_per_key([first, copy])
    assert write.newest is first
    assert write.duplicates == [copy]


def test_equal_timestamps_are_ordered_by_digest():
    low, high = notification("low", ("j", 1), 100, "0f"), notification("high", ("j", 1), 100, "f0")
    for batch in ([low, high], [high, low]):
        (write,) = newest_per_key(batch)
        assert write.newest is high
        assert write.stale == [low]


def test_one_tick_is_enough_to_be_newer():
    older, newer = notification("older", ("j", 1), 15973522191013786, "ff"), notification("newer", ("j", 1), 15973522191013787, "00")
    (write,) = newest_per_key([newer, older])
    assert write.newest is newer


def test_jobs_tasks_and_jobs_tasks_are_separate_keys():
    batch = [
        notification("job", ("j",), 1),
        notification("task-0", ("j", 0), 1),
        notification("task-1", ("j", 1), 1),
        notification("other-job-task-0", ("k", 0), 1),
    ]
    assert [write.newest for write in newest_per_key(batch)] == batch


notifications = st.lists(
    st.builds(
        notification,
        message_id=st.text(min_size=1, max_size=3),
        key=st.sampled_from([("a",), ("b",), ("a", 0), ("a", 1)]),
        ticks=st.integers(0, 3),
        digest=st.sampled_from(["00", "01"]),
    ),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(notifications, st.randoms())
def test_each_key_keeps_its_newest_and_every_other_notification_is_accounted_once(batch, rng):
    shuffled = batch[:]
    rng.shuffle(shuffled)
    writes = newest_per_key(shuffled)

    assert sorted(id(n) for write in writes for n in write.notifications) == sorted(id(n) for n in batch)
    for write in writes:
        same_key = [n for n in batch if (n.kind, n.key) == (write.newest.kind, write.newest.key)]
        assert write.newest.order == max(n.order for n in same_key)
        assert all(n.order == write.newest.order for n in write.duplicates)
        assert all(n.order < write.newest.order for n in write.stale)
    assert len(writes) == len({(n.kind, n.key) for n in batch})


def test_an_environment_without_a_table_name_fails_clearly_instead_of_using_a_default():
    from notification_processor import BatchProcessor, ConfigurationError

    with pytest.raises(ConfigurationError, match="DYNAMODB_TASK_INFO_TABLE"):
        BatchProcessor.from_environment({"DYNAMODB_JOB_INFO_TABLE": "Jobs"}, client=object())
