"""The local archive: every distinct notification of the history as Parquet, as the stack's bucket holds it.

On AWS the archiver turns each history item into a row (archive.columns.row) and Firehose
writes them as Parquet under `kind=/dt=/hour=` folders. Locally the same row() feeds
DuckDB, which writes the same columns (archive.columns.COLUMNS, by their Glue types) in
the same Hive partitions (PARTITION_COLUMNS), so `deadline-sqs report --local` runs the
same SQL over the same layout. Each write replaces the folder's previous archive: it is
written from the whole history table, which already holds each notification once, into a
sibling folder that then takes the archive's place.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import duckdb

from archive.columns import BIGINT, COLUMNS, DOUBLE, PARTITION_COLUMNS, STRING, TIMESTAMP, row
from status_events.changes import TEST_JOB_PREFIX

# Glue's (Hive's) type names as DuckDB's: the Parquet types Firehose's conversion writes for them.
DUCKDB_TYPES = {STRING: "VARCHAR", BIGINT: "BIGINT", DOUBLE: "DOUBLE", TIMESTAMP: "TIMESTAMP"}
# `deadline-sqs local` rewrites its archive this often (s): Firehose delivers within its buffering interval too.
ARCHIVE_REFRESH_SECONDS = 30


def duckdb_columns() -> str:
    """COLUMNS and PARTITION_COLUMNS as a DuckDB struct literal of name -> type (read_json's `columns`)."""
    return "{" + ", ".join(f"'{c.name}': '{DUCKDB_TYPES[c.glue_type]}'" for c in COLUMNS + PARTITION_COLUMNS) + "}"


def copy_to_archive(connection, source_sql: str, folder: Path) -> None:
    """Write the rows `source_sql` selects (every column of COLUMNS and PARTITION_COLUMNS) as the archive in `folder`."""
    names = ", ".join(column.name for column in COLUMNS + PARTITION_COLUMNS)
    partitions = ", ".join(column.name for column in PARTITION_COLUMNS)
    target = str(folder).replace("'", "''")
    connection.execute(
        f"COPY (SELECT {names} FROM ({source_sql})) TO '{target}' "
        f"(FORMAT parquet, PARTITION_BY ({partitions}), OVERWRITE true)"
    )


def write_archive(rows: Iterable[dict], folder: Path) -> int:
    """Write `rows` (archive.columns.row's) as the archive in `folder`, replacing what it held; how many rows."""
    folder = Path(folder)
    count = 0
    with tempfile.TemporaryDirectory() as scratch:
        lines = Path(scratch) / "rows.json"
        with lines.open("w") as out:
            for value in rows:
                out.write(json.dumps(value) + "\n")
                count += 1
        if not count:  # nothing archived yet: no archive (a report says so), not the previous run's
            shutil.rmtree(folder, ignore_errors=True)
            return 0
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.with_name(f".{folder.name}.writing")
        connection = duckdb.connect(":memory:")
        try:
            source = str(lines).replace("'", "''")
            copy_to_archive(
                connection,
                f"SELECT * FROM read_json('{source}', format = 'newline_delimited', columns = {duckdb_columns()})",
                staging,
            )
        finally:
            connection.close()
    _replace(folder, staging)
    return count


def _replace(folder: Path, staging: Path) -> None:
    """`staging` becomes `folder` by two renames: a report reading meanwhile finds one archive or the other."""
    previous = folder.with_name(f".{folder.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if folder.exists():
        folder.rename(previous)
    staging.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)


def history_items(dynamodb, table: str) -> Iterator[dict]:
    """Every item of the history table, as AttributeValues (what the history stream's NewImage holds)."""
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        yield from page["Items"]


def archive_history(dynamodb, table: str, folder: Path) -> int:
    """The history table's notifications written as the archive in `folder`; how many.

    As the archiver does, the test jobs of `deadline-sqs smoke` and `verify` are left out (in no report).
    """
    items = history_items(dynamodb, table)
    return write_archive((row(item) for item in items if not item["job_id"]["S"].startswith(TEST_JOB_PREFIX)), folder)


class ArchiveRefresher:
    """While `deadline-sqs local` runs: the history rewritten as the archive every `seconds`.

    A thread; as a context manager it stops (and joins) on exit, whatever happens.
    """

    def __init__(self, dynamodb, table: str, folder: Path, seconds: float = ARCHIVE_REFRESH_SECONDS):
        self.dynamodb, self.table, self.folder, self.seconds = dynamodb, table, Path(folder), seconds
        self.last_error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archive-refresher", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.refresh()

    def refresh(self) -> None:
        try:
            archive_history(self.dynamodb, self.table, self.folder)
        except Exception as error:  # kept for the next try: the engines may be busy or stopping
            self.last_error = error

    def __enter__(self) -> ArchiveRefresher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
