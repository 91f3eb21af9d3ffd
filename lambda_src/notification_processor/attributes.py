"""JSON values as DynamoDB AttributeValues, exactly, within DynamoDB's limits.

Numbers arrive as Decimal (the body is parsed with parse_float/parse_int=Decimal),
so no value ever passes through a float. What DynamoDB would refuse is refused
here, with the path of the offending value, so a bad notification is reported with
a reason instead of failing its write.
"""

from __future__ import annotations

from decimal import Decimal

from .errors import InvalidInput

# The documented example Lambda's SQS_DYNAMODB_KEY_MAPPING: existing readers know these names.
KEY_MAPPING = {
    "TaskDetails": "task_details",
    "JobDetails": "job_details",
    "NotificationInfo": "notification_info",
    "WorkerInfo": "worker_info",
    "AWSInfo": "aws_info",
    "PROTOCOL": "protocol_version",
    "Timestamp": "timestamp",
    "Source": "source",
}

MAX_ITEM_BYTES = 400 * 1024
MAX_ATTRIBUTE_NAME_BYTES = 64 * 1024
# A name this many characters long or shorter is within the limit, however it encodes (4 bytes at most each).
_SHORT_NAME_CHARACTERS = MAX_ATTRIBUTE_NAME_BYTES // 4
MAX_NESTING = 32
MAX_NUMBER_DIGITS = 38
# Magnitudes DynamoDB stores: 1E-130 up to 9.9999999999999999999999999999999999999E+125.
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125
MAX_PATH_IN_REASON = 120


class UnstorableValue(InvalidInput):
    """A value DynamoDB cannot store; the message names where it is (shortened: keys are content too)."""

    def __init__(self, path: str, problem: str):
        where = path if len(path) <= MAX_PATH_IN_REASON else path[: MAX_PATH_IN_REASON - 3] + "..."
        super().__init__(f"{where} {problem}")


def number_value(number: Decimal, path: str) -> dict:
    """An N AttributeValue holding `number` exactly."""
    problem = _number_problem(number)
    if problem:
        raise UnstorableValue(path, problem)
    return {"N": str(number) if number else "0"}


def _number_problem(number: Decimal) -> str | None:
    """Why DynamoDB cannot store `number`, or None."""
    if not number.is_finite():
        return "is not a finite number"
    if not number:  # DynamoDB stores every zero as 0, and refuses one like 0E+999999999999999999
        return None
    digits = number.as_tuple().digits
    if len(digits) > MAX_NUMBER_DIGITS and len("".join(map(str, digits)).rstrip("0")) > MAX_NUMBER_DIGITS:
        return f"has more than {MAX_NUMBER_DIGITS} significant digits"
    if not MIN_ADJUSTED_EXPONENT <= number.adjusted() <= MAX_ADJUSTED_EXPONENT:
        return "is outside the magnitudes DynamoDB stores (1E-130 to 1E+126)"
    return None


def unicode_text(text: str, path: str) -> str:
    """`text`, if it is Unicode DynamoDB can store: JSON's \\u escapes can leave a lone surrogate."""
    if not text.isascii():  # ASCII (the usual case) is known at no cost
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise UnstorableValue(path, "is not valid Unicode (a lone surrogate)") from None
    return text


def _child_path(parent: str, key: str | int | None) -> str:
    """The path of `parent`'s element `key` (a name, or an index); built only where it is needed."""
    if key is None:
        return parent
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _value(value, parent: str, key: str | int | None, map_keys: bool, depth: int) -> dict:
    """The element `key` of `parent` (the value at `parent` itself if None), parsed JSON, as an AttributeValue.

    Keys of objects nested in objects are renamed by KEY_MAPPING, as the documented
    Lambda did; objects inside arrays keep their keys (it never looked inside arrays).
    The most common types first, by exact type (json.loads makes no subclasses); a
    path is built only for containers and errors.
    """
    kind = type(value)
    if kind is str:
        if not value.isascii():
            unicode_text(value, _child_path(parent, key))
        return {"S": value}
    if kind is Decimal:
        problem = _number_problem(value)
        if problem:
            raise UnstorableValue(_child_path(parent, key), problem)
        return {"N": str(value) if value else "0"}
    if value is None:
        return {"NULL": True}
    if kind is bool:
        return {"BOOL": value}
    path = _child_path(parent, key)
    if depth >= MAX_NESTING:  # the item itself is the first level
        raise UnstorableValue(path, f"nests deeper than DynamoDB's {MAX_NESTING} levels")
    if kind is list:
        return {"L": [_value(element, path, index, False, depth + 1) for index, element in enumerate(value)]}
    return {"M": map_value(value, path, map_keys=map_keys, depth=depth + 1)}


def map_value(obj: dict, path: str, *, map_keys: bool, depth: int = 1) -> dict:
    """The attributes of a JSON object (a whole item when `path` is empty)."""
    attributes = {}
    for key, value in obj.items():
        if not key:
            raise UnstorableValue(path or "the body", "has an empty key, which DynamoDB refuses")
        if not key.isascii():
            unicode_text(key, _child_path(path, key))
        if len(key) > _SHORT_NAME_CHARACTERS and len(key.encode()) > MAX_ATTRIBUTE_NAME_BYTES:
            raise UnstorableValue(
                path or "the body",
                f"has a key of {len(key.encode())} bytes, over DynamoDB's {MAX_ATTRIBUTE_NAME_BYTES}-byte name limit",
            )
        name = KEY_MAPPING.get(key, key) if map_keys else key
        if name in attributes:  # e.g. Timestamp and timestamp: one would silently replace the other
            raise UnstorableValue(_child_path(path, key), f"and another key are both stored as {name!r}")
        attributes[name] = _value(value, path, key, map_keys, depth)
    return attributes


def item_size(item: dict) -> int:
    """The bytes DynamoDB counts for `item` against its 400 KB limit: its documented rule
    (names and strings in UTF-8, binary as its bytes; a number 1 byte per 2 significant digits plus 1; a map or
    list 3 bytes plus 1 per element), and 1 byte more per negative number, as DynamoDB Local
    measures (the documentation leaves the sign out)."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: dict) -> int:
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "B":
        return len(content)
    if kind == "N":
        digits = content.lstrip("-").split("E")[0].replace(".", "").strip("0")
        return (len(digits) + 1) // 2 + 1 + content.startswith("-")
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in content.items())
    return 3 + sum(1 + value_size(element) for element in content)
