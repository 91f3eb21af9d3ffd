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
MAX_FRACTION_DIGITS = 7
_EPOCH_DAY = date(1970, 1, 1).toordinal()

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


def utc_timestamp(ticks: int) -> str:
    """The instant `ticks` names, in UTC with seven fractional digits: `2020-08-13T20:56:59.1013786Z`.

    The inverse of timestamp_ticks for UTC text; equal-length text, so it sorts in time order.
    """
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    days, second_of_day = divmod(seconds, 86400)
    day = date.fromordinal(_EPOCH_DAY + days)
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:{second:02d}.{fraction:0{MAX_FRACTION_DIGITS}d}Z"
