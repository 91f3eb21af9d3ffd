"""The reports: one SQL file per report in this folder, shared by Athena and DuckDB.

Each `<name>.sql` is written in the subset of SQL that Trino (Athena engine 3) and DuckDB
both run (DuckDB gets the few Trino function names it lacks from duckdb_shim.sql). Two
parameters are substituted as text: `{table}`, the archive's table, and `{since}`, a
timestamp literal (`TIMESTAMP '2026-11-24 00:00:00'`, UTC) from `--since`. Each report reads
the date partitions from the `since` day on (`dt >= ...`), so a week's report reads a week.

A file's first comment line is its description (`deadline-sqs report` lists them); a comment
line `-- default since: 1d` sets its default period (else DEFAULT_SINCE). The stack creates
one Athena named query per file from the same folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deadline_sqs import CommandError

REPORTS_FOLDER = Path(__file__).parent
DEFAULT_SINCE = "7d"
_DEFAULT_SINCE_LINE = re.compile(r"^--\s*default since:\s*(\S+)\s*$", re.MULTILINE)
_SINCE = re.compile(r"^(\d+)([dh])$")
SINCE_FORMS = "a number of days or hours back (7d, 36h) or a UTC date or time (2026-11-24, 2026-11-24T06:00)"


@dataclass(frozen=True)
class Report:
    name: str
    description: str  # the file's first comment line
    default_since: str
    template: str  # the SQL with {table} and {since}

    def sql(self, table: str, since: datetime) -> str:
        """The query over `table` from `since` (UTC) on."""
        return self.template.replace("{table}", table).replace("{since}", timestamp_literal(since))


def timestamp_literal(moment: datetime) -> str:
    """A SQL timestamp literal both engines read: TIMESTAMP 'YYYY-MM-DD HH:MM:SS' (UTC, no zone)."""
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S}'"


def read_report(path: Path) -> Report:
    template = path.read_text()
    first = next((line for line in template.splitlines() if line.startswith("--")), "")
    default = _DEFAULT_SINCE_LINE.search(template)
    return Report(path.stem, first.removeprefix("--").strip(), default.group(1) if default else DEFAULT_SINCE, template)


def all_reports() -> dict[str, Report]:
    """Every report in REPORTS_FOLDER, by name, in name order."""
    return {path.stem: read_report(path) for path in sorted(REPORTS_FOLDER.glob("*.sql"))}


def find_report(name: str) -> Report:
    reports = all_reports()
    if name not in reports:
        raise CommandError(f"no report named {name!r}: choose one of {', '.join(reports)} (`deadline-sqs report` lists them)")
    return reports[name]


def parse_since(text: str, now: datetime) -> datetime:
    """The start of the period `--since` names, in UTC: `Nd` / `Nh` before `now`, or an ISO date or time (UTC)."""
    relative = _SINCE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now.astimezone(UTC) - (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    try:
        moment = datetime.fromisoformat(text.strip())  # a date alone is its midnight
    except ValueError:
        raise CommandError(f"--since {text!r} is not {SINCE_FORMS}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
