"""Deadline's notification Timestamp, as an exact integer of 100 ns ticks.

Deadline writes Timestamp with .NET's round-trip precision: up to seven fractional
digits (100 ns), e.g. `2020-08-13T20:56:59.1013786Z`; its other date fields carry
offsets such as `-05:00`. Parsing to an integer, never to a float or to Python's
microsecond datetime, keeps two notifications 100 ns apart in their true order.
"""

from __future__ import annotations

import re
from datetime import date

TICKS_PER_SECOND = 10_000_000
TICKS_PER_MILLISECOND = 10_000
TICKS_PER_DAY = 86400 * TICKS_PER_SECOND
MAX_FRACTION_DIGITS = 7
_EPOCH_DAY = date(1970, 1, 1).toordinal()
# The instants Deadline's form can write: years 1 to 9999.
_FIRST_TICKS = (date.min.toordinal() - _EPOCH_DAY) * TICKS_PER_DAY
_LAST_TICKS = (date.max.toordinal() + 1 - _EPOCH_DAY) * TICKS_PER_DAY - 1
# What Deadline sends: UTC with all seven fractional digits, e.g. 2020-08-13T20:56:59.1013786Z.
_DEADLINE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{7}Z")
DEADLINE_FORM_LENGTH = 28

# [0-9], not \d: \d would also accept other scripts' digits.
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,7}))?"
    r"(?P<offset>Z|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)


class TimestampError(ValueError):
    """A Timestamp this processor cannot order exactly."""


def timestamp_ticks(text: str) -> int:
    """The instant `text` names, as 100 ns ticks since 1970-01-01T00:00:00Z (negative before).

    Accepts `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 7 digits, and `Z` or
    a `±HH:MM` offset. Anything else, including a finer fraction than 100 ns or a
    time without an offset (no instant), raises TimestampError.
    """
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        raise TimestampError(
            "not YYYY-MM-DDTHH:MM:SS[.fraction of 1 to 7 digits] with Z or a ±HH:MM offset"
        )
    year, month, day, hour, minute, second = (
        int(match[name]) for name in ("year", "month", "day", "hour", "minute", "second")
    )
    offset_hour, offset_minute = (int(match[name] or 0) for name in ("offset_hour", "offset_minute"))
    try:
        days = date(year, month, day).toordinal() - _EPOCH_DAY
    except ValueError as error:
        raise TimestampError(f"not a real date ({error})") from None
    if hour > 23 or minute > 59 or second > 59:
        raise TimestampError("not a real time of day")
    if offset_hour > 23 or offset_minute > 59:
        raise TimestampError("not a real UTC offset")
    offset_seconds = (offset_hour * 60 + offset_minute) * 60 * (-1 if match["sign"] == "-" else 1)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds
    fraction = (match["fraction"] or "").ljust(MAX_FRACTION_DIGITS, "0")
    return seconds * TICKS_PER_SECOND + int(fraction)


def deadline_form(ticks: int) -> str:
    """The instant in the form Deadline sends: UTC, seven fractional digits (28 characters).

    Two Timestamps in this form compare as text as they compare as instants (fixed
    width, most significant field first), which is how DynamoDB's condition orders a
    stored `timestamp` that has no ordering attribute. Instants outside the years 1 to
    9999 (reachable only through an offset) are clamped to the first or last such tick.
    """
    ticks = min(max(ticks, _FIRST_TICKS), _LAST_TICKS)
    days, ticks_of_day = divmod(ticks, TICKS_PER_DAY)
    seconds, fraction = divmod(ticks_of_day, TICKS_PER_SECOND)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    day = date.fromordinal(_EPOCH_DAY + days).isoformat()
    return f"{day}T{hours:02d}:{minutes:02d}:{seconds:02d}.{fraction:0{MAX_FRACTION_DIGITS}d}Z"


def is_deadline_form(text: str) -> bool:
    return _DEADLINE_FORM.fullmatch(text) is not None

