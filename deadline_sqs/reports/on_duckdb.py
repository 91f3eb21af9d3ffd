"""Run a report with DuckDB over a local archive: Parquet files in Hive partitions (kind=/dt=/hour=).

DuckDB is imported only here and only when a report runs (`pip install
'deadline-sqs-notifications[local]'` installs it), so nothing else needs it.

The shim: DuckDB lacks the few Trino (Athena) functions the reports call, so each
connection first defines them as macros over DuckDB's own functions. Only the functions
the reports use are defined, with only the meaning they use:

- `date_format(t, '%Y-%m-%d')`: Trino's MySQL-style specifiers %Y %m %d %H mean the same
  in DuckDB's `strftime` (others, such as %i, differ: do not use them in a report).
- `approx_percentile(x, p)`: DuckDB's `quantile_disc`, exact and, like Trino's, a value
  taken from the data (Trino's is approximate, within about 1 %: Athena's figures may differ
  that much on large data).
- `array_join(list, separator)`: DuckDB's `array_to_string`.
"""

from __future__ import annotations

from pathlib import Path

from deadline_sqs import CommandError
from deadline_sqs.reports import Report
from deadline_sqs.reports.results import ReportResult

# The functions a report may call: each runs on Trino (Athena engine 3) and, natively or through SHIM, on DuckDB
# (tests/unit/test_reports.py checks every file). Add one only after checking both engines' documentation.
PORTABLE_FUNCTIONS = frozenset({
    "approx_percentile", "array_agg", "array_join", "array_sort", "coalesce", "count", "date_diff", "date_format",
    "date_trunc", "max", "min", "round", "row_number", "sum",
})  # fmt: skip
SHIM = (
    "CREATE OR REPLACE MACRO date_format(moment, format) AS strftime(moment, format)",
    "CREATE OR REPLACE MACRO approx_percentile(value, fraction) AS quantile_disc(value, fraction)",
    "CREATE OR REPLACE MACRO array_join(items, separator) AS array_to_string(items, separator)",
)
LOCAL_TABLE = "archived"  # not "notifications": the reports name their deduplicated rows so
# The partition columns as the Glue table declares them (strings), not as DuckDB would guess them (a date, a number).
PARTITION_TYPES = "{'kind': VARCHAR, 'dt': VARCHAR, 'hour': VARCHAR}"
INSTALL_HINT = "pip install 'deadline-sqs-notifications[local]' (make install does)"


def connect():
    """An in-memory DuckDB connection with the shim's macros."""
    try:
        import duckdb
    except ImportError:
        raise CommandError(f"reports on the local archive need DuckDB: {INSTALL_HINT}") from None
    connection = duckdb.connect(":memory:")
    for statement in SHIM:
        connection.execute(statement)
    return connection


def archive_view(connection, folder: Path, name: str = LOCAL_TABLE) -> None:
    """`name`: a view of every Parquet file under `folder`, with its partition columns."""
    if not any(Path(folder).glob("kind=*/dt=*/hour=*/*.parquet")):
        raise CommandError(
            f"the local archive {folder} holds no notifications yet: run traffic through a local pipeline with reports "
            'on (make synth CONTEXT="-c reports=true", then `deadline-sqs local` or make demo)'
        )
    pattern = str(Path(folder) / "kind=*" / "dt=*" / "hour=*" / "*.parquet").replace("'", "''")
    connection.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, "
        f"hive_types = {PARTITION_TYPES})"
    )


def run_local_report(report: Report, folder: Path, since) -> ReportResult:
    """`report` from `since` (UTC datetime) on, over the archive in `folder`."""
    connection = connect()  # says how to install DuckDB if it is missing
    import duckdb

    try:
        archive_view(connection, folder)
        try:
            cursor = connection.execute(report.sql(LOCAL_TABLE, since))
        except duckdb.Error as error:
            raise CommandError(f"report {report.name} failed on DuckDB: {str(error).splitlines()[0]}") from None
        columns = [column[0] for column in cursor.description]
        return ReportResult(columns, [tuple(row) for row in cursor.fetchall()])
    finally:
        connection.close()
