"""Run a report on Athena, in the stack's workgroup, over its Glue table of the archive.

StartQueryExecution in the workgroup (its enforced configuration sets where results go
and how they are encrypted), GetQueryExecution every POLL_SECONDS with the state and the
data scanned on stderr, then every page of GetQueryResults. Ctrl-C stops the query
(StopQueryExecution), so nothing keeps scanning (and costing) after the command.

The permissions it needs are the reader's policy in docs/reports.md ("Permissions a reader
needs"), with cloudformation:DescribeStacks for the stack's outputs; a refusal names them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from botocore.exceptions import ClientError

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import ACCESS_DENIED_CODES, error_code
from deadline_sqs.reports import Report
from deadline_sqs.reports.results import ReportResult
from stacks.roles import REPORTS_TABLE

POLL_SECONDS = 1.0
DONE_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
RESULT_PAGE_ROWS = 1000  # GetQueryResults' maximum
INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "bigint"})
FLOAT_TYPES = frozenset({"double", "float", "real", "decimal"})
PERMISSIONS = (
    "athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults and athena:StopQueryExecution on "
    "the workgroup, glue:GetDatabase and glue:GetTable on its database and table, s3:GetObject and s3:ListBucket on the "
    "reports bucket's notifications/, s3:GetObject and s3:PutObject on its athena-results/ (and kms:Decrypt, "
    "kms:GenerateDataKey through S3 on the stack's key, if it has one): the reader's policy in docs/reports.md"
)


def run_athena_report(
    athena,
    report: Report,
    since: datetime,
    *,
    workgroup: str,
    database: str,
    progress: Callable[[str], None],
    poll_seconds: float = POLL_SECONDS,
) -> ReportResult:
    """`report` from `since` on, in `workgroup` over `database`.notifications; `progress` gets one line per poll."""
    sql = report.sql(f'"{database}"."{REPORTS_TABLE}"', since)
    with _explained(report.name, workgroup):
        query_id = athena.start_query_execution(
            QueryString=sql, WorkGroup=workgroup, QueryExecutionContext={"Database": database}
        )["QueryExecutionId"]
    try:
        execution = _wait(athena, report.name, workgroup, query_id, progress, poll_seconds)
    except KeyboardInterrupt:
        athena.stop_query_execution(QueryExecutionId=query_id)
        raise
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        reason = status.get("AthenaError", {}).get("ErrorMessage") or status.get("StateChangeReason", "no reason given")
        raise CommandError(
            f"report {report.name} {status['State'].lower()} on Athena (query {query_id}): {reason}; "
            + _failure_fix(reason)
        )
    with _explained(report.name, workgroup):
        return _results(athena, query_id)


def _wait(athena, name: str, workgroup: str, query_id: str, progress, poll_seconds: float) -> dict:
    started = time.monotonic()
    while True:
        with _explained(name, workgroup):
            execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        state = execution["Status"]["State"]
        scanned = execution.get("Statistics", {}).get("DataScannedInBytes", 0)
        progress(f"report {name}: {state}, {scanned / 1e6:.1f} MB scanned, {time.monotonic() - started:.0f} s")
        if state in DONE_STATES:
            return execution
        time.sleep(poll_seconds)


def _results(athena, query_id: str) -> ReportResult:
    columns: list[str] = []
    types: list[str] = []
    rows: list[tuple] = []
    token = None
    while True:
        page = athena.get_query_results(
            QueryExecutionId=query_id, MaxResults=RESULT_PAGE_ROWS, **({"NextToken": token} if token else {})
        )
        result_set = page["ResultSet"]
        if not columns:
            info = result_set["ResultSetMetadata"]["ColumnInfo"]
            columns, types = [column["Name"] for column in info], [column["Type"] for column in info]
            data = result_set["Rows"][1:]  # the first row of the first page repeats the column names
        else:
            data = result_set["Rows"]
        rows += [tuple(_value(cell.get("VarCharValue"), kind) for cell, kind in zip(row["Data"], types, strict=True))
                 for row in data]  # fmt: skip
        token = page.get("NextToken")
        if not token:
            return ReportResult(columns, rows)


def _value(text: str | None, kind: str):
    """A result cell (always text on Athena) as the column's type says."""
    if text is None:
        return None
    if kind in INTEGER_TYPES:
        return int(text)
    if kind in FLOAT_TYPES:
        return float(text)
    return text


def _failure_fix(reason: str) -> str:
    if "Access Denied" in reason or "AccessDenied" in reason or "not authorized" in reason:
        return f"the caller (and the workgroup's output location) needs {PERMISSIONS}"
    if "does not exist" in reason or "not found" in reason.lower():
        return "deploy the stack with reports on (\"reports\": true in the studio's config) so its table exists"
    return "check the report's SQL against the table's columns (docs/reports.md)"


@contextmanager
def _explained(name: str, workgroup: str) -> Iterator[None]:
    """A ClientError of the block as a CommandError naming the report and the fix."""
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        message = error.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED_CODES:
            fix = f"the caller needs {PERMISSIONS}"
        elif "workgroup" in message.lower() and "not found" in message.lower():
            fix = f"the workgroup {workgroup} does not exist: deploy the stack with reports on (\"reports\": true)"
        else:
            fix = "see docs/reports.md"
        raise CommandError(f"report {name} on Athena: {code}: {message}; {fix}") from None
