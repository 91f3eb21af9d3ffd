"""Timestamp -> 100 ns ticks: exact, offset-aware, and strict about what it accepts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_processor.timestamps import (
    DEADLINE_FORM_LENGTH,
    TICKS_PER_SECOND,
    TimestampError,
    deadline_form,
    is_deadline_form,
    timestamp_ticks,
)
from tests.unit.processor_support import timestamp_text

_YEAR_1 = round((datetime(1, 1, 2, tzinfo=UTC).timestamp()) * TICKS_PER_SECOND)
_YEAR_9999 = round((datetime(9999, 12, 30, tzinfo=UTC).timestamp()) * TICKS_PER_SECOND)


def test_the_documented_timestamp_is_exact_to_the_tick():
    # 2020-08-13T20:56:59Z is 1597352219 s after the epoch.
    assert timestamp_ticks("2020-08-13T20:56:59.1013786Z") == 1597352219_1013786


def test_timestamps_one_tick_apart_keep_their_order():
    earlier = timestamp_ticks("2020-08-13T20:56:59.1013786Z")
    later = timestamp_ticks("2020-08-13T20:56:59.1013787Z")
    assert later - earlier == 1


def test_an_offset_names_the_same_instant_as_utc():
    assert timestamp_ticks("2020-08-13T15:56:59.1013786-05:00") == timestamp_ticks("2020-08-13T20:56:59.1013786Z")
    assert timestamp_ticks("2020-08-14T02:26:59.1013786+05:30") == timestamp_ticks("2020-08-13T20:56:59.1013786Z")


def test_an_offset_can_reverse_the_order_of_the_wall_clock_times():
    # 15:00 at -05:00 (20:00 UTC) is later than 19:00 UTC.
    assert timestamp_ticks("2020-08-13T15:00:00-05:00") > timestamp_ticks("2020-08-13T19:00:00Z")


@pytest.mark.parametrize(
    "text, ticks",
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.1Z", 1_000_000),
        ("1970-01-01T00:00:00.01Z", 100_000),
        ("1970-01-01T00:00:00.0000001Z", 1),
        ("1969-12-31T23:59:59.9999999Z", -1),
        ("0001-01-01T00:00:00Z", -62135596800 * TICKS_PER_SECOND),
    ],
)
def test_fractions_of_0_to_7_digits_and_dates_before_the_epoch(text, ticks):
    assert timestamp_ticks(text) == ticks


@pytest.mark.parametrize(
    "text",
    [
        "2020-08-13T20:56:59.10137861Z",  # finer than 100 ns
        "2020-08-13T20:56:59.1013786",  # no offset: not an instant
        "2020-08-13 20:56:59.1013786Z",
        "2020-08-13T20:56:59.Z",
        "2020-08-13t20:56:59Z",
        "2020-08-13T20:56:59z",
        "2020-08-13T20:56:59+0500",
        "2020-08-13T20:56:59.1013786Z ",
        "2020-02-30T10:00:00Z",  # no 30 February
        "2021-02-29T10:00:00Z",
        "2020-13-01T10:00:00Z",
        "2020-08-13T24:00:00Z",
        "2020-08-13T23:60:00Z",
        "2020-08-13T23:59:60Z",  # leap seconds do not exist here
        "2020-08-13T20:56:59+24:00",
        "2020-08-13T20:56:59-05:60",
        "\uff12\uff10\uff12\uff10-08-13T20:56:59Z",  # full-width digits
        "2020-08-13T20:56:59.\u0661Z",  # an Arabic-Indic digit
        "",
        "yesterday",
    ],
)
def test_anything_else_is_refused(text):
    with pytest.raises(TimestampError):
        timestamp_ticks(text)


@settings(max_examples=200, deadline=None)
@given(
    ticks=st.integers(_YEAR_1, _YEAR_9999),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_every_instant_at_every_offset_reads_back_exactly(ticks, offset_minutes):
    assert timestamp_ticks(timestamp_text(ticks, offset_minutes)) == ticks



@settings(max_examples=200, deadline=None)
@given(first=st.integers(_YEAR_1, _YEAR_9999), second=st.integers(_YEAR_1, _YEAR_9999))
def test_deadlines_own_form_reads_back_and_compares_as_text_as_the_instants_do(first, second):
    # What lets DynamoDB's condition order a stored `timestamp` without the ordering attribute.
    texts = deadline_form(first), deadline_form(second)
    assert all(is_deadline_form(text) and len(text) == DEADLINE_FORM_LENGTH for text in texts)
    assert timestamp_ticks(texts[0]) == first
    assert (texts[0] < texts[1]) == (first < second)


def test_deadlines_own_form_is_what_deadline_sends_and_clamps_beyond_the_years_it_can_write():
    assert deadline_form(timestamp_ticks("2020-08-13T15:56:59.1-05:00")) == "2020-08-13T20:56:59.1000000Z"
    assert deadline_form(timestamp_ticks("0001-01-01T00:00:00+01:00")) == "0001-01-01T00:00:00.0000000Z"
    assert deadline_form(timestamp_ticks("9999-12-31T23:00:00-01:00")) == "9999-12-31T23:59:59.9999999Z"
    assert not is_deadline_form("2020-08-13T20:56:59.10Z") and not is_deadline_form("2020-08-13T15:56:59.10-05:00")
