"""`deadline-sqs report` on Athena, against botocore's service model (Stubber refuses any request the
model does not know), and the command's listing and errors."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import Stubber

from deadline_sqs import CommandError, cli
from deadline_sqs.reports import find_report
from deadline_sqs.reports.on_athena import PERMISSIONS, run_athena_report
from tests.unit.reports_support import SINCE, write_known_archive

WORKGROUP = "DeadlineNotifications-acme-reports"
DATABASE = "deadline_notifications_acme"
QUERY_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def athena():
    client = boto3.client("athena", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def execution(state: str, scanned: int, **status) -> dict:
    return {"QueryExecution": {
        "QueryExecutionId": QUERY_ID, "Status": {"State": state, **status},
        "Statistics": {"DataScannedInBytes": scanned},
    }}  # fmt: skip


def cells(*values) -> dict:
    return {"Data": [{"VarCharValue": value} if value is not None else {} for value in values]}


COLUMN_INFO = [{"Name": "worker", "Type": "varchar"}, {"Name": "failed_tasks", "Type": "bigint"},
               {"Name": "share", "Type": "double"}]  # fmt: skip


def start(stubber, report_name: str) -> None:
    sql = find_report(report_name).sql(f'"{DATABASE}"."notifications"', SINCE)
    stubber.add_response(
        "start_query_execution", {"QueryExecutionId": QUERY_ID},
        {"QueryString": sql, "WorkGroup": WORKGROUP, "QueryExecutionContext": {"Database": DATABASE}},
    )  # fmt: skip


def test_a_report_runs_in_the_workgroup_shows_progress_and_reads_every_page(athena):
    client, stubber = athena
    start(stubber, "failing_workers")
    for state, scanned in (("QUEUED", 0), ("RUNNING", 5_000_000), ("SUCCEEDED", 12_300_000)):
        stubber.add_response("get_query_execution", execution(state, scanned), {"QueryExecutionId": QUERY_ID})
    first = {"ResultSet": {"Rows": [cells("worker", "failed_tasks", "share"), cells("w2", "4", "0.5")],
                           "ResultSetMetadata": {"ColumnInfo": COLUMN_INFO}}, "NextToken": "page-2"}  # fmt: skip
    second = {"ResultSet": {"Rows": [cells("w3", "1", None)], "ResultSetMetadata": {"ColumnInfo": COLUMN_INFO}}}
    stubber.add_response("get_query_results", first, {"QueryExecutionId": QUERY_ID, "MaxResults": 1000})
    stubber.add_response(
        "get_query_results", second, {"QueryExecutionId": QUERY_ID, "MaxResults": 1000, "NextToken": "page-2"}
    )
    progress: list[str] = []
    result = run_athena_report(client, find_report("failing_workers"), SINCE, workgroup=WORKGROUP, database=DATABASE,
                               progress=progress.append, poll_seconds=0)  # fmt: skip
    assert result.columns == ["worker", "failed_tasks", "share"]
    assert result.rows == [("w2", 4, 0.5), ("w3", 1, None)]
    assert [line.split(", ")[:2] for line in progress] == [
        ["report failing_workers: QUEUED", "0.0 MB scanned"],
        ["report failing_workers: RUNNING", "5.0 MB scanned"],
        ["report failing_workers: SUCCEEDED", "12.3 MB scanned"],
    ]


def test_a_failed_query_names_the_report_athenas_reason_and_a_fix(athena):
    client, stubber = athena
    start(stubber, "render_hours")
    reason = "COLUMN_NOT_FOUND: line 9:40: Column 'notified_at' cannot be resolved"
    stubber.add_response(
        "get_query_execution", execution("FAILED", 0, StateChangeReason=reason), {"QueryExecutionId": QUERY_ID}
    )
    with pytest.raises(CommandError) as raised:
        run_athena_report(client, find_report("render_hours"), SINCE, workgroup=WORKGROUP, database=DATABASE,
                          progress=lambda line: None, poll_seconds=0)  # fmt: skip
    assert str(raised.value) == (
        f"report render_hours failed on Athena (query {QUERY_ID}): {reason}; "
        "check the report's SQL against the table's columns (docs/reports.md)"
    )


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        ("InvalidRequestException", f"WorkGroup {WORKGROUP} is not found.", "deploy the stack with reports on"),
        ("AccessDeniedException", "User: arn:aws:iam::111111111111:user/td is not authorized", PERMISSIONS),
    ],
)
def test_a_missing_workgroup_or_a_refusal_names_the_fix(athena, code, message, fix):
    client, stubber = athena
    stubber.add_client_error("start_query_execution", code, message)
    with pytest.raises(CommandError) as raised:
        run_athena_report(client, find_report("failed_jobs"), SINCE, workgroup=WORKGROUP, database=DATABASE,
                          progress=lambda line: None)  # fmt: skip
    assert str(raised.value).startswith(f"report failed_jobs on Athena: {code}: {message}; ")
    assert fix in str(raised.value)


def test_ctrl_c_stops_the_query(athena, monkeypatch):
    client, stubber = athena
    start(stubber, "render_hours")
    stubber.add_response("get_query_execution", execution("RUNNING", 0), {"QueryExecutionId": QUERY_ID})
    stubber.add_response("stop_query_execution", {}, {"QueryExecutionId": QUERY_ID})

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr("deadline_sqs.reports.on_athena.time.sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_athena_report(client, find_report("render_hours"), SINCE, workgroup=WORKGROUP, database=DATABASE,
                          progress=lambda line: None)  # fmt: skip


def test_the_command_lists_the_reports_with_their_descriptions(capsys):
    assert cli.main(["report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == [
        "failed_jobs", "failing_workers", "job_turnaround", "render_hours", "task_retries"
    ]  # fmt: skip
    assert "Render hours by user, department, plugin and pool, per day" in lines[4]


def test_the_command_runs_a_report_on_a_local_archive(tmp_path, capsys):
    write_known_archive(tmp_path / "archive")
    args = ["report", "failing_workers", "--archive", str(tmp_path / "archive"), "--since", "2026-11-24"]
    assert cli.main([*args, "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "worker,failed_tasks,jobs,job_names,first_failure,last_failure",
        'w2,4,3,"job-3, sh010_beauty, sh020_fx",2026-11-25 10:30:00,2026-11-26 13:00:00',
        "w3,1,1,job-3,2026-11-26 14:00:00,2026-11-26 14:00:00",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["render_hours"], "where is the archive? pass --local"),
        (["render_hours", "--archive", ".", "--since", "last week"], "--since 'last week' is not"),
        (["nope", "--local"], "no report named 'nope'"),
    ],
)
def test_command_errors_are_one_line_and_exit_2(capsys, args, message):
    assert cli.main(["report", *args]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"deadline-sqs: error: {message}") and error.count("\n") == 1


def test_a_stack_without_reports_says_to_deploy_with_them(monkeypatch, capsys):
    cloudformation = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with Stubber(cloudformation) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [{
            "StackName": "DeadlineNotifications-acme", "CreationTime": now, "StackStatus": "CREATE_COMPLETE", "Outputs": [],
        }]}, {"StackName": "DeadlineNotifications-acme"})  # fmt: skip

        class Session:
            def client(self, service):
                assert service == "cloudformation"
                return cloudformation

        monkeypatch.setattr("deadline_sqs.reports.command.aws_session", lambda profile, region: Session())
        assert cli.main(["report", "render_hours", "--stack-name", "DeadlineNotifications-acme"]) == 2
    assert "has no ReportsWorkgroup or ReportsDatabase output: deploy it with reports on" in capsys.readouterr().err
