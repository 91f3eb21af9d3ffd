"""`deadline-sqs report [NAME]`: list the reports, or run one on Athena (--stack-name) or DuckDB (--local).

Registered by cli.build_parser. The result goes to stdout (table, CSV or JSON lines);
Athena's progress goes to stderr, so `--format csv > file` stays clean.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from deadline_sqs import OK, CommandError
from deadline_sqs.deployment import stack_outputs
from deadline_sqs.local_target import LOCAL_ARCHIVE_FOLDER
from deadline_sqs.preflight import aws_session
from deadline_sqs.reports import DEFAULT_SINCE, SINCE_FORMS, all_reports, find_report, parse_since
from deadline_sqs.reports.on_athena import run_athena_report
from deadline_sqs.reports.on_duckdb import run_local_report
from deadline_sqs.reports.results import FORMATS, formatted
from stacks.roles import REPORTS_DATABASE_OUTPUT, REPORTS_WORKGROUP_OUTPUT


def report_list() -> str:
    reports = all_reports()
    width = max(map(len, reports))
    lines = [f"  {name:<{width}}  {report.description}" for name, report in reports.items()]
    return "\n".join(["Reports (deadline-sqs report NAME --local | --stack-name STACK):", *lines])


def run_report(args) -> int:
    if not args.name:
        print(report_list())
        return OK
    report = find_report(args.name)
    since = parse_since(args.since or report.default_since, datetime.now(UTC))
    if args.local or args.archive:
        result = run_local_report(report, args.archive or LOCAL_ARCHIVE_FOLDER, since)
    elif args.stack_name:
        session = aws_session(args.profile, args.region)
        outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
        missing = [key for key in (REPORTS_WORKGROUP_OUTPUT, REPORTS_DATABASE_OUTPUT) if key not in outputs]
        if missing:
            raise CommandError(
                f"stack {args.stack_name} has no {' or '.join(missing)} output: deploy it with reports on "
                '("reports": true in the studio\'s config file, then make deploy STUDIO=...)'
            )
        result = run_athena_report(
            session.client("athena"), report, since,
            workgroup=outputs[REPORTS_WORKGROUP_OUTPUT], database=outputs[REPORTS_DATABASE_OUTPUT],
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )  # fmt: skip
    else:
        raise CommandError(f"where is the archive? pass --local (DuckDB over {LOCAL_ARCHIVE_FOLDER}) or --stack-name")
    print(formatted(result, args.format))
    return OK


def add_report_command(command) -> None:
    sub = command(
        "report", run_report,
        "Run a report over the archive of every notification: on Athena (--stack-name) or DuckDB (--local); "
        "no NAME lists them.",
    )  # fmt: skip
    sub.add_argument("name", metavar="NAME", nargs="?", help="the report (none: list the reports)")
    sub.add_argument(
        "--since", help=f"the period's start: {SINCE_FORMS} (default {DEFAULT_SINCE}, or the report's own)"
    )
    sub.add_argument("--format", choices=FORMATS, default="table", help="output format (default %(default)s)")
    group = sub.add_argument_group("archive", "Where the archive is.")
    place = group.add_mutually_exclusive_group()
    place.add_argument(
        "--stack-name",
        help=f"Athena in the deployed stack's workgroup (outputs {REPORTS_WORKGROUP_OUTPUT}, {REPORTS_DATABASE_OUTPUT})",
    )
    place.add_argument("--local", action="store_true", help=f"DuckDB over the local pipeline's archive ({LOCAL_ARCHIVE_FOLDER})")
    place.add_argument("--archive", type=Path, help="DuckDB over this archive folder (kind=/dt=/hour= partitions)")
    group.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else the profile's)")
    group.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")
