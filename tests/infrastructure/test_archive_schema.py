"""The local archive's Parquet files against the synthesized Glue table: the same columns, types and partitions."""

from __future__ import annotations

from deadline_sqs.reports.on_duckdb import LOCAL_TABLE, archive_view, connect
from tests.infrastructure.template_tools import glue_columns
from tests.unit.reports_support import PARQUET_TYPES, parquet_columns, write_known_archive

STUDIO_WITH_REPORTS = "example"


def test_the_local_archives_files_and_partitions_are_the_glue_tables(studio_synthesis, tmp_path):
    studio = studio_synthesis.studios[STUDIO_WITH_REPORTS]
    assert studio.config.reports
    columns, partition_keys = glue_columns(studio.template)
    folder = tmp_path / "archive"
    write_known_archive(folder)
    files = sorted(folder.glob("**/*.parquet"))
    assert files
    for path in files:
        assert parquet_columns(path) == [(name, PARQUET_TYPES[kind]) for name, kind in columns], path
        assert [part.split("=")[0] for part in path.relative_to(folder).parts[:-1]] == [name for name, _ in partition_keys]
    # The reports' view reads the partition values with the Glue table's types.
    connection = connect()
    try:
        archive_view(connection, folder)
        described = dict(row[:2] for row in connection.execute(f"DESCRIBE {LOCAL_TABLE}").fetchall())
    finally:
        connection.close()
    assert {name: described[name] for name, _ in partition_keys} == {name: PARQUET_TYPES[kind] for name, kind in partition_keys}
