"""A report's result and its three output formats: an aligned table, CSV, JSON lines."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

FORMATS = ("table", "csv", "json")
NULL_TEXT = ""  # how the table and CSV show a NULL


@dataclass(frozen=True)
class ReportResult:
    columns: list[str]
    rows: list[tuple]

    def as_dicts(self) -> list[dict]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _text(value) -> str:
    if value is None:
        return NULL_TEXT
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _json_value(value):
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def formatted(result: ReportResult, output_format: str) -> str:
    """The result as `output_format` (one of FORMATS), ending without a newline."""
    if output_format == "json":
        return "\n".join(json.dumps({k: _json_value(v) for k, v in row.items()}) for row in result.as_dicts())
    if output_format == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(value) for value in row] for row in result.rows)
        return out.getvalue().rstrip("\n")
    cells = [[_text(value) for value in row] for row in result.rows]
    widths = [max([len(name)] + [len(row[n]) for row in cells]) for n, name in enumerate(result.columns)]
    numeric = [all(isinstance(row[n], int | float | Decimal) or row[n] is None for row in result.rows) for n in range(len(widths))]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width) for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(result.columns), line(["-" * width for width in widths])] + [line(row) for row in cells]
    return "\n".join([*lines, f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})"])
