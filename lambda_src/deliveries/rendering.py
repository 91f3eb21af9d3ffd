"""Each format's text from its one template in formats/, rendered in code.

``formats/<format>.json``: a JSON body; ``{field}`` placeholders inside its string values are
replaced after the template is parsed, so every value is escaped by json.dumps, never by hand.
``formats/email.txt``: ``Subject: ...`` on its first line, then the body. A placeholder naming a
field message.FIELD_NAMES lacks raises TemplateError when the template is loaded.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from pathlib import Path

from .message import FIELD_NAMES

FORMATS = Path(__file__).resolve().parent / "formats"
EMAIL = "email"
SUBJECT_PREFIX = "Subject: "
MAX_SUBJECT = 99  # SNS: ASCII, under 100 characters, no line breaks
FALLBACK_SUBJECT = "Deadline job notification"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    """A template that is missing, unreadable or names an unknown field."""


def formats() -> tuple[str, ...]:
    """Every format with a template (the file names in formats/)."""
    return tuple(sorted(path.stem for path in FORMATS.iterdir() if path.suffix in (".json", ".txt")))


@functools.cache
def template(format_name: str):
    """The parsed template of ``format_name``: a JSON value, or for email (subject, body) text."""
    json_path, text_path = FORMATS / f"{format_name}.json", FORMATS / f"{format_name}.txt"
    if json_path.is_file():
        try:
            loaded = json.loads(json_path.read_text())
        except ValueError as error:
            raise TemplateError(f"formats/{json_path.name} is not valid JSON: {error}") from None
        _check_placeholders(json_path.name, _strings(loaded))
        return loaded
    if text_path.is_file():
        subject, _, body = text_path.read_text().partition("\n")
        if not subject.startswith(SUBJECT_PREFIX):
            raise TemplateError(f"formats/{text_path.name}: the first line must be '{SUBJECT_PREFIX}...'")
        _check_placeholders(text_path.name, [subject, body])
        return subject.removeprefix(SUBJECT_PREFIX), body
    raise TemplateError(f"no template for the format {format_name!r}; the formats are {', '.join(formats())}")


def render(format_name: str, fields: dict[str, str]) -> str:
    """The body of ``format_name`` for ``fields`` (message.message_fields)."""
    loaded = template(format_name)
    if isinstance(loaded, tuple):
        return _substitute(loaded[1], fields)
    return json.dumps(_fill(loaded, fields), ensure_ascii=False, separators=(",", ":"))


def render_subject(fields: dict[str, str]) -> str:
    """The e-mail subject from email.txt: ASCII, no control characters, under 100 characters."""
    subject, _ = template(EMAIL)
    text = unicodedata.normalize("NFKD", _substitute(subject, fields)).encode("ascii", "ignore").decode()
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if len(text) > MAX_SUBJECT:
        text = text[: MAX_SUBJECT - 3].rstrip() + "..."
    return text or FALLBACK_SUBJECT


def _fill(value, fields: dict[str, str]):
    if isinstance(value, str):
        return _substitute(value, fields)
    if isinstance(value, list):
        return [_fill(each, fields) for each in value]
    if isinstance(value, dict):
        return {key: _fill(each, fields) for key, each in value.items()}
    return value


def _substitute(text: str, fields: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: fields[match[1]], text)


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for each in value for text in _strings(each)]
    if isinstance(value, dict):
        return [text for each in value.values() for text in _strings(each)]
    return []


def _check_placeholders(file_name: str, texts: list[str]) -> None:
    unknown = sorted({name for text in texts for name in _PLACEHOLDER.findall(text)} - FIELD_NAMES)
    if unknown:
        raise TemplateError(
            f"formats/{file_name} names unknown fields {unknown}; the fields are {', '.join(sorted(FIELD_NAMES))}"
        )
