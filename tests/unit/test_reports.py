"""Every report on DuckDB over a small hand-made archive (tests/unit/reports_support.py), row for row."""

from __future__ import annotations

import json
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deadline_sqs import CommandError, cli
from deadline_sqs.local_target import LOCAL_ARCHIVE_FOLDER
from deadline_sqs.reports import all_reports, find_report, parse_since, timestamp_literal
from deadline_sqs.reports.on_duckdb import PORTABLE_FUNCTIONS, run_local_report
from deadline_sqs.reports.results import ReportResult, formatted
from tests.unit.reports_support import SINCE, write_known_archive

EXPECTED = {
    "render_hours": (
        ["day", "user_name", "department", "plugin", "pool", "task_attempts", "render_hours"],
        [
            # job-1's stops on the 25th: 1 h (delivered twice, counted once) + 0.5 h failed + 0.25 h + 0.1 h requeued.
            ("2026-11-25", "amy", "lighting", "Arnold", "shots", 4, 1.85),
            # A RenderTime over a day (1.02:00:00) and 10 minutes; an empty department is "(none)".
            ("2026-11-26", "bo", "(none)", "Houdini", "priority", 2, 26.17),
            # job-3's notification never arrived: its 2 h 20 min 30 s are "(unknown)"'s.
            ("2026-11-26", "(unknown)", "(unknown)", "(unknown)", "(unknown)", 3, 2.34),
        ],
    ),
    "failing_workers": (
        ["worker", "failed_tasks", "jobs", "job_names", "first_failure", "last_failure"],
        [
            ("w2", 4, 3, "job-3, sh010_beauty, sh020_fx", datetime(2026, 11, 25, 10, 30), datetime(2026, 11, 26, 13)),
            ("w3", 1, 1, "job-3", datetime(2026, 11, 26, 14), datetime(2026, 11, 26, 14)),
        ],
    ),
    "job_turnaround": (
        ["pool", "jobs", "p50_minutes", "p90_minutes", "p99_minutes", "max_minutes"],
        # job-5 took 60 min, job-1 210 min; job-6's placeholder submission date leaves it out.
        [("shots", 2, 60.0, 210.0, 210.0, 210.0)],
    ),
    "task_retries": (
        ["job_id", "job_name", "user_name", "tasks_failed", "failures", "tasks_requeued", "requeues"],
        [
            ("job-2", "sh020_fx", "bo", 1, 2, 0, 0),
            ("job-3", "job-3", "(unknown)", 2, 2, 0, 0),
            ("job-1", "sh010_beauty", "amy", 1, 1, 1, 1),
        ],
    ),
    "failed_jobs": (
        ["job_id", "job_name", "user_name", "department", "plugin", "pool", "errors", "failed_at"],
        [("job-2", "sh020_fx", "bo", None, "Houdini", "priority", 2, datetime(2026, 11, 26, 9))],
    ),
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports") / "archive"
    assert write_known_archive(folder) == 18  # 15 distinct notifications and 3 repeats
    return folder


def test_there_is_one_expected_result_per_report_file():
    assert sorted(all_reports()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_report_gives_exactly_the_known_rows(archive, name):
    result = run_local_report(find_report(name), archive, SINCE)
    assert (result.columns, result.rows) == EXPECTED[name]


def test_a_later_since_leaves_the_earlier_days_out(archive):
    result = run_local_report(find_report("render_hours"), archive, datetime(2026, 11, 26, tzinfo=UTC))
    assert [row[:2] for row in result.rows] == [("2026-11-26", "bo"), ("2026-11-26", "(unknown)")]


def test_each_report_has_a_description_and_reads_the_date_partitions_from_since_on():
    for report in all_reports().values():
        assert report.description and not report.description.startswith("-")
        assert "dt >= date_format({since}, '%Y-%m-%d')" in report.template
        assert "PARTITION BY event_id" in report.template  # repeats dropped
    assert find_report("failed_jobs").default_since == "1d"
    assert find_report("render_hours").default_since == "7d"


def test_since_takes_days_hours_and_utc_dates_and_times():
    now = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 24, 12, 30, tzinfo=UTC)
    assert parse_since("36h", now) == datetime(2026, 11, 30, 0, 30, tzinfo=UTC)
    assert parse_since("2026-11-24", now) == datetime(2026, 11, 24, tzinfo=UTC)
    assert parse_since("2026-11-24T06:00", now) == datetime(2026, 11, 24, 6, tzinfo=UTC)
    assert parse_since("2026-11-24T06:00+01:00", now) == datetime(2026, 11, 24, 5, tzinfo=UTC)
    assert timestamp_literal(parse_since("2026-11-24", now)) == "TIMESTAMP '2026-11-24 00:00:00'"
    for wrong in ("7", "1w", "yesterday", "2026-13-01"):
        with pytest.raises(CommandError, match=f"--since '{wrong}' is not a number of days or hours back"):
            parse_since(wrong, now)


def test_an_unknown_report_or_an_empty_archive_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no report named 'render_hour': choose one of failed_jobs, failing_workers"):
        find_report("render_hour")
    with pytest.raises(CommandError, match=r"the local archive .* holds no notifications yet"):
        run_local_report(find_report("render_hours"), tmp_path, SINCE)


def test_the_three_formats():
    result = ReportResult(["worker", "failed_tasks", "last"], [("w2", 4, datetime(2026, 11, 26, 13)), ("w10", 12, None)])
    assert formatted(result, "csv") == "worker,failed_tasks,last\nw2,4,2026-11-26 13:00:00\nw10,12,"
    assert formatted(result, "json").splitlines() == [
        '{"worker": "w2", "failed_tasks": 4, "last": "2026-11-26 13:00:00"}',
        '{"worker": "w10", "failed_tasks": 12, "last": null}',
    ]
    assert formatted(result, "table").splitlines() == [
        "worker  failed_tasks  last",
        "------  ------------  -------------------",
        "w2                 4  2026-11-26 13:00:00",
        "w10               12",
        "(2 rows)",
    ]


def test_without_duckdb_a_local_report_says_how_to_install_it(archive, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if not installed: importing it raises ImportError
    with pytest.raises(CommandError, match=r"reports on the local archive need DuckDB: pip install 'deadline-sqs-notifications\[local\]'"):
        run_local_report(find_report("render_hours"), archive, SINCE)


def test_the_documented_examples_are_what_the_reports_print(archive):
    """docs/reports.md shows each report's table on this archive, right after the report's name."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    for name in EXPECTED:
        after = page.split(f"**`{name}`**", 1)[1]
        documented = after.split("```text\n", 1)[1].split("```", 1)[0].rstrip("\n")
        assert documented == formatted(run_local_report(find_report(name), archive, SINCE), "table"), name


def test_local_reads_the_archive_of_the_folder_it_runs_in(archive, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    LOCAL_ARCHIVE_FOLDER.parent.mkdir()
    shutil.copytree(archive, LOCAL_ARCHIVE_FOLDER)
    assert cli.main(["report", "failed_jobs", "--local", "--since", "2026-11-24", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == "job-2"


def test_the_reports_call_only_functions_both_engines_have():
    called = {name: set(re.findall(r"\b([a-z_]+)\(", report.template)) for name, report in all_reports().items()}
    assert {name: sorted(functions - PORTABLE_FUNCTIONS) for name, functions in called.items() if functions - PORTABLE_FUNCTIONS} == {}
