"""The local archive: the archive's columns and types in Hive partitions, rewritten whole, read by partition."""

from __future__ import annotations

from datetime import UTC, datetime

from archive.columns import COLUMNS, PARTITION_COLUMNS
from bench.reports import scan_profile
from deadline_sqs.reports import find_report
from deadline_sqs.reports.on_duckdb import LOCAL_TABLE
from local_pipeline.archive import write_archive
from tests.unit.reports_support import PARQUET_TYPES, archive_row, at, parquet_columns, task, write_known_archive


def test_each_file_holds_the_columns_with_their_types_in_hive_partitions_of_the_notifications_time(tmp_path):
    folder = tmp_path / "archive"
    write_known_archive(folder)
    files = sorted(folder.glob("**/*.parquet"))
    assert files and all(
        [part.split("=")[0] for part in path.relative_to(folder).parts[:-1]] == [c.name for c in PARTITION_COLUMNS]
        for path in files
    )
    assert "kind=task/dt=2026-11-26/hour=08" in {str(path.parent.relative_to(folder)) for path in files}
    for path in files:
        assert parquet_columns(path) == [(column.name, PARQUET_TYPES[column.glue_type]) for column in COLUMNS]


def test_a_write_replaces_the_archive(tmp_path):
    folder = tmp_path / "archive"
    write_known_archive(folder)
    assert write_archive([archive_row(task("job-9", 0, "w9", "completed", at(27, 1), "00:01:00"))], folder) == 1
    assert [str(path.relative_to(folder)) for path in folder.glob("**/*.parquet")] == [
        "kind=task/dt=2026-11-27/hour=01/data_0.parquet"
    ]
    assert write_archive([], folder) == 0
    assert not folder.exists() and list(tmp_path.iterdir()) == []  # no staging or previous folder left either


def test_a_report_reads_only_the_partitions_from_its_since_day_on(tmp_path):
    folder = tmp_path / "archive"
    write_known_archive(folder)
    since = datetime(2026, 11, 26, 10, tzinfo=UTC)
    days = {path.parent.parent.name for path in folder.glob("**/*.parquet")}
    in_period = [path for path in folder.glob("**/*.parquet") if path.parent.parent.name >= "dt=2026-11-26"]
    profile = scan_profile(folder, find_report("render_hours").sql(LOCAL_TABLE, since))
    assert len(days) == 4 and profile["files_known"] == len(list(folder.glob("**/*.parquet")))
    assert profile["files_read"] == len(in_period) < profile["files_known"]
    assert profile["file_filters"].strip("()") == "dt >= '2026-11-26'"  # the since day, folded to a constant
