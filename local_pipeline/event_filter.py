"""A local stand-in for Lambda's event filtering (an event source mapping's FilterCriteria).

DynamoDB Local's streams and local_pipeline.stream_source know no filters, so the template's
own patterns are applied here, before the handler sees a batch: a record matching none of
them is dropped, as Lambda drops it. Only the pattern syntax the stack uses is modelled: nested
objects and lists of exact strings, numbers or booleans. Anything else (prefix, exists,
numeric, anything-but, ...) raises SpecError rather than matching wrongly.
"""

from __future__ import annotations

from collections.abc import Callable

from local_pipeline.spec import SpecError


def matches(pattern: dict, value) -> bool:
    """Whether a record (a Lambda stream event record, as JSON) matches one filter pattern."""
    if not isinstance(value, dict):
        return False
    for name, expected in pattern.items():
        if isinstance(expected, dict):
            if not matches(expected, value.get(name)):
                return False
        elif isinstance(expected, list) and all(isinstance(v, str | int | float | bool) for v in expected):
            if name not in value or value[name] not in expected:
                return False
        else:
            raise SpecError(f"the local event filter has no model of the pattern {name}: {expected!r}")
    return True


def filtered(handler: Callable, patterns: list[dict]) -> Callable:
    """`handler`, invoked only with the records matching one of `patterns` (never with none)."""

    def invoke(event: dict, context):
        records = [record for record in event.get("Records", []) if any(matches(p, record) for p in patterns)]
        return handler({**event, "Records": records}, context) if records else {"batchItemFailures": []}

    return invoke
