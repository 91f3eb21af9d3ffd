"""`deadline-sqs`: operator commands for a deployed pipeline (send, smoke, verify, status, history, dlq, redrive,
subscribe, unsubscribe, subscriptions, report).

Other packages add commands through the entry point group `deadline_sqs.commands`
(the local harness adds demo, local and generate): this package never imports them.

Expected failures (a missing queue, missing credentials, ...) end with one line on
stderr and a non-zero exit code, never a traceback: 1 for a check that found
problems, 2 for an error, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import entry_points
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from deadline_sqs import ERROR, INTERRUPTED, OK, PROBLEMS, CommandError, __version__
from deadline_sqs.aws_errors import about
from deadline_sqs.dead_letters import peek_dead_letters
from deadline_sqs.deployment import (
    HISTORY_TABLE_FLAG,
    QUEUE_FLAGS,
    Deployment,
    resolve_deployment,
    stack_outputs,
    table_flag,
)
from deadline_sqs.local_target import LOCAL_TARGET_FILE, read_local_target
from deadline_sqs.operations import format_history, format_status, job_history, job_status, redrive, smoke
from deadline_sqs.preflight import aws_session, configuration_problem
from deadline_sqs.reports.command import add_report_command
from deadline_sqs.sending import queue_arn, queue_depth, read_message_lines, send_bodies
from deadline_sqs.subscriptions import (
    chosen_statuses,
    format_subscriptions,
    list_subscriptions,
    subscribe,
    unsubscribe,
)
from deadline_sqs.verify import all_passed, announcement, confirm, dead_letter_seconds, recipients, verify
from deadline_sqs.verify_resources import Clients, target_from_local, target_from_stack, temporary_base
from stacks.roles import (
    DEAD_LETTER_QUEUE,
    HISTORY_TABLE,
    JOB_NOTIFICATION_STATUSES_OUTPUT,
    JOB_NOTIFICATION_TOPIC,
    QUEUE,
    TABLES,
)
from status_events.changes import NOTIFIED_JOB_STATUSES

PLUGIN_GROUP = "deadline_sqs.commands"
# A command: its name, what `run(args)` does, and a one-line summary.
AddCommand = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def count(minimum: int):
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its "invalid ... value" message
    return parse


def seconds(text: str) -> float:
    """An argparse type: a number of seconds above zero."""
    value = float(text)
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError("must be a number of seconds above 0")
    return value


def non_empty(text: str) -> str:
    """An argparse type: a string with something in it (a DynamoDB key cannot be empty)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def target_options(parser: argparse.ArgumentParser, *queues: str, tables: bool = False, history: bool = False) -> None:
    """--stack-name, --local, --region, --profile, and the explicit values of only what the command uses.

    `queues`, `tables` and `history` name them as Deployment.require does, so a command's help
    lists no option it would ignore.
    """
    group = parser.add_argument_group(
        "deployment",
        "Where the pipeline is: --stack-name reads its outputs from CloudFormation, --local the pipeline that "
        "`deadline-sqs local` runs in this folder; explicit values override either. "
        "AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_DYNAMODB point the clients at other endpoints.",
    )
    roles = {"queue_url": QUEUE, "dead_letter_queue_url": DEAD_LETTER_QUEUE}
    outputs = [roles[name].output_key for name in queues]
    outputs += [table.output_key for table in TABLES.values()] if tables else []
    outputs += [HISTORY_TABLE.output_key] if history else []
    place = group.add_mutually_exclusive_group()
    place.add_argument("--stack-name", help=f"the deployed stack (outputs {', '.join(outputs) or 'read from it'})")
    place.add_argument("--local", action="store_true", help=f"the running `deadline-sqs local` (reads {LOCAL_TARGET_FILE})")
    helps = {"queue_url": "the notification queue", "dead_letter_queue_url": "the dead-letter queue"}
    for name in queues:
        group.add_argument(QUEUE_FLAGS[name], dest=name, help=helps[name])
    for kind in TABLES if tables else ():
        group.add_argument(table_flag(kind), dest=f"{kind}_table", help=f"the {kind} table")
    if history:
        group.add_argument(HISTORY_TABLE_FLAG, dest="history_table", help="the history table")
    group.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else the profile's)")
    group.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")


def _session(args):
    """A boto3 Session, or with --local one whose clients reach the local pipeline's engines."""
    if args.local:
        return read_local_target().session()
    return aws_session(args.profile, args.region)


def _deployment(args, session, found: Deployment | None = None) -> Deployment:
    """Where the pipeline is, with the explicit values on top; `found` if the caller has read it already."""
    return resolve_deployment(
        lambda: session.client("cloudformation"),
        None if found else args.stack_name,
        found=found or (read_local_target().deployment if args.local else None),
        tables={kind: getattr(args, f"{kind}_table", None) for kind in TABLES},
        history_table=getattr(args, "history_table", None),
        **{name: getattr(args, name, None) for name in QUEUE_FLAGS},
    )


# --- commands ------------------------------------------------------------------------------


def run_send(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("queue_url")
    bodies = [row["body"] for row in read_message_lines(args.file)]
    with tqdm(total=len(bodies), desc="sending", unit="msg", disable=args.quiet) as bar:
        report = send_bodies(session.client("sqs"), deployment.queue_url, bodies, bar.update)
    print(f"Sent {report.sent} of {len(bodies)} messages to {deployment.queue_url}")
    for failure in report.failures:
        print(f"  line {failure.index + 1}: {failure.code}: {failure.message}")
    return PROBLEMS if report.failures else OK


def run_smoke(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("queue_url", tables=True)
    result = smoke(session.client("sqs"), session.client("dynamodb"), deployment, timeout=args.timeout)
    history = f" and their {result.history_entries} history entries" if result.history_entries else ""
    print(
        f"OK: test job {result.job_id} stored after {result.job_seconds:.2f} s and its task after "
        f"{result.task_seconds:.2f} s (end to end, from sending); the test items{history} were deleted"
    )
    if not result.settled:
        print(
            f"  (other messages kept the queue busy for {result.settle_seconds:.0f} s, so the items were deleted "
            f"without knowing that both test messages had left it: one that comes back could store its item "
            f"again; `deadline-sqs status {result.job_id}` shows it)"
        )
    return OK


def run_verify(args) -> int:
    if not (args.stack_name or args.local):
        raise CommandError("verify checks a whole stack: pass --stack-name (a deployed stack) or --local")
    session = _session(args)
    target = target_from_local(read_local_target()) if args.local else target_from_stack(
        session.client("cloudformation"), args.stack_name
    )
    target = replace(target, deployment=_deployment(args, session, target.deployment))
    target.deployment.require("queue_url", "dead_letter_queue_url", tables=True)
    clients = Clients(
        sqs=session.client("sqs"),
        dynamodb=session.client("dynamodb"),
        events=session.client("events") if target.bus_name else None,
        sns=session.client("sns") if target.alarm_topic_arn else None,
        cloudwatch=session.client("cloudwatch") if target.alarm_names else None,
    )
    people = recipients(clients.sns, target.alarm_topic_arn, temporary_base(target.name)) if clients.sns else []
    dlq_seconds = dead_letter_seconds(clients.sqs, target.deployment) if args.dlq else None
    print(announcement(target, people, args.dlq, dlq_seconds))
    confirm(target, args.yes, sys.stdin, sys.stdout)
    results = verify(clients, target, timeout=args.timeout, dead_letters=args.dlq, out=sys.stdout)
    if target.alarm_names:
        print(
            "The alarms set to ALARM are left to re-evaluate: each returns to its real state at its next evaluation "
            "(within its 5-minute period) and notifies the topic again (OK)."
        )
    print("PASS: every path" if all_passed(results) else "FAIL: not every path passed (see above)")
    return OK if all_passed(results) else PROBLEMS


def run_status(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require(tables=True)
    status = job_status(session.client("dynamodb"), deployment, args.job_id)
    print(format_status(status, args.job_id))
    return OK


def run_history(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require(history=True)
    entries = job_history(session.client("dynamodb"), deployment.history_table, args.job_id)
    print(format_history(entries, args.job_id))
    return OK


def run_dlq(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("dead_letter_queue_url")
    letters = peek_dead_letters(session.client("sqs"), deployment.dead_letter_queue_url, limit=args.limit)
    if not letters:
        print("The dead-letter queue is empty.")
        return OK
    print(f"{len(letters)} dead-lettered messages (left in the queue; receives include this listing):")
    for letter in sorted(letters, key=lambda letter: letter.sent_at):
        print(f"  {letter.message_id}  sent {letter.sent_at:%Y-%m-%d %H:%M:%S}Z  receives {letter.receive_count}")
        print(f"    why: {letter.reason}")
        if args.show_body:
            body = letter.body if len(letter.body) <= 400 else letter.body[:400] + f"... ({len(letter.body)} chars)"
            print(f"    body: {body}")
    return OK


def run_redrive(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("dead_letter_queue_url")
    if not queue_depth(session.client("sqs"), deployment.dead_letter_queue_url):
        print(f"The dead-letter queue is empty: nothing to redrive ({deployment.dead_letter_queue_url}).")
        return OK
    print(f"Starting a message-move task from {deployment.dead_letter_queue_url} ...")
    task = redrive(session.client("sqs"), deployment, max_per_second=args.max_per_second, wait=not args.no_wait)
    total = "" if task.to_move is None else f" of {task.to_move}"
    print(f"{task.status}: {task.moved}{total} messages moved" + (f" ({task.failure})" if task.failure else ""))
    return PROBLEMS if task.status in ("FAILED", "CANCELLED") else OK


def _job_notifications(args, session) -> tuple[str, list[str]]:
    """The job-notification topic's ARN and the statuses it is sent, from the stack, the local pipeline or --topic-arn."""
    arn, statuses = "", [str(status) for status in NOTIFIED_JOB_STATUSES]
    if args.local:
        target = read_local_target()
        arn, statuses = target.job_notification_topic_arn, target.job_notification_statuses or statuses
    elif args.stack_name:
        outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
        arn = outputs.get(JOB_NOTIFICATION_TOPIC.output_key, "")
        statuses = outputs.get(JOB_NOTIFICATION_STATUSES_OUTPUT, ",".join(statuses)).split(",")
    arn = str(args.topic_arn or arn)
    if not arn:
        raise CommandError(
            f"where is the job-notification topic? pass --stack-name (a stack deployed with job_notifications on "
            f"has the output {JOB_NOTIFICATION_TOPIC.output_key}), --local, or --topic-arn"
        )
    return arn, statuses


def run_subscribe(args) -> int:
    if args.queue and not args.local:
        raise CommandError("--queue subscribes a local queue: it is for --local (a studio subscribes with --email)")
    session = _session(args)
    topic_arn, allowed = _job_notifications(args, session)
    statuses = chosen_statuses(args.statuses, allowed)
    if args.queue:
        sqs = session.client("sqs")
        with about(f"queue {args.queue}"):
            endpoint = queue_arn(sqs, sqs.get_queue_url(QueueName=args.queue)["QueueUrl"])
        protocol = "sqs"
    else:
        protocol, endpoint = "email", args.email
    subscribe(session.client("sns"), topic_arn, user=args.user, statuses=statuses, protocol=protocol, endpoint=endpoint)
    confirm = f"; {endpoint} gets a confirmation e-mail from AWS first: its link starts the messages" if protocol == "email" else ""
    print(f"Subscribed {endpoint} to {args.user}'s jobs that become {' or '.join(statuses)}{confirm}")
    return OK


def run_unsubscribe(args) -> int:
    session = _session(args)
    topic_arn, _ = _job_notifications(args, session)
    removed, pending = unsubscribe(session.client("sns"), topic_arn, user=args.user, endpoint=args.email)
    print(f"Removed {len(removed)} subscriptions of {args.user}" + "".join(f": {each.endpoint}" for each in removed[:1])
          + "".join(f", {each.endpoint}" for each in removed[1:]))  # fmt: skip
    for each in pending:
        print(f"  {each.endpoint} has not confirmed its subscription: SNS cannot remove it; it lapses after 3 days")
    return OK


def run_subscriptions(args) -> int:
    session = _session(args)
    topic_arn, _ = _job_notifications(args, session)
    print(format_subscriptions(list_subscriptions(session.client("sns"), topic_arn), topic_arn))
    return OK


def _email(text: str) -> str:
    """An argparse type: an e-mail address."""
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise argparse.ArgumentTypeError("must be an e-mail address, e.g. alice@studio.example")
    return text


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deadline-sqs",
        description="Deadline 10 SQS notifications: operator commands (and, installed with it, the local pipeline).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(run=run)
        return sub

    sub = command("send", run_send, "Send a JSON lines file of message bodies to a queue with SendMessageBatch.")
    sub.add_argument("file", type=Path, help='one JSON object per line with the exact message body: {"body": "..."}')
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    target_options(sub, "queue_url")

    sub = command("smoke", run_smoke, "Send a test job and task notification, wait until both are stored, delete them.")
    sub.add_argument("--timeout", type=seconds, default=120, help="seconds to wait for the items (default %(default)s)")
    target_options(sub, "queue_url", tables=True, history=True)

    sub = command(
        "verify", run_verify,
        "Prove each delivery path of a stack end to end with a marked test job (and its alarms), then remove "
        "everything it made.",
    )
    sub.add_argument("--yes", action="store_true", help="send the test messages without asking (for CI)")
    sub.add_argument(
        "--dlq", action="store_true",
        help="also send a bad message to the dead-letter queue (takes max_receive_count visibility timeouts)",
    )
    sub.add_argument("--timeout", type=seconds, default=60, help="seconds to wait on each path (default %(default)s)")
    target_options(sub)

    sub = command("status", run_status, "Print a job's stored state and its tasks'.")
    sub.add_argument("job_id", metavar="JOB_ID", type=non_empty)
    target_options(sub, tables=True)

    sub = command("history", run_history, "Print a job's timeline: every notification of it and its tasks, oldest first.")
    sub.add_argument("job_id", metavar="JOB_ID", type=non_empty)
    target_options(sub, history=True)

    sub = command("dlq", run_dlq, "List dead-lettered messages and why each was rejected, without removing them.")
    sub.add_argument("--limit", type=count(1), default=1000, help="list at most this many (default %(default)s)")
    sub.add_argument("--show-body", action="store_true", help="also print each message's body (shortened)")
    target_options(sub, "dead_letter_queue_url")

    sub = command("redrive", run_redrive, "Move dead-lettered messages back to the queue (SQS message-move task).")
    sub.add_argument("--max-per-second", type=count(1), help="message-move rate (default: chosen by SQS)")
    sub.add_argument("--no-wait", action="store_true", help="start the task and return")
    target_options(sub, "dead_letter_queue_url", "queue_url")

    add_report_command(command)
    sub = command("subscribe", run_subscribe, "Send an artist's job notifications (their jobs' changes) to an address.")
    sub.add_argument("--user", required=True, type=non_empty, help="the Deadline user name whose jobs to send")
    endpoint = sub.add_mutually_exclusive_group(required=True)
    endpoint.add_argument("--email", type=_email, help="the address (it confirms the subscription from AWS's e-mail)")
    endpoint.add_argument("--queue", help="with --local: a local SQS queue's name, which gets the structured JSON")
    sub.add_argument("--statuses", help="comma-separated job statuses (default: every status the topic is sent)")
    target_options(sub)
    sub.add_argument("--topic-arn", help="the job-notification topic (default: from --stack-name or --local)")

    sub = command("unsubscribe", run_unsubscribe, "Stop an artist's job notifications (to one address, or all).")
    sub.add_argument("--user", required=True, type=non_empty, help="the Deadline user name")
    sub.add_argument("--email", type=_email, help="only the subscription of this address (default: all of the user's)")
    target_options(sub)
    sub.add_argument("--topic-arn", help="the job-notification topic (default: from --stack-name or --local)")

    sub = command("subscriptions", run_subscriptions, "List who gets which job notifications: endpoint, user, statuses.")
    target_options(sub)
    sub.add_argument("--topic-arn", help="the job-notification topic (default: from --stack-name or --local)")

    for plugin in entry_points(group=PLUGIN_GROUP):
        plugin.load()(command)
    return parser


def _exit_on_sigterm(signum, frame) -> None:
    # SIGTERM unwinds like Ctrl-C does, so everything a command started is stopped.
    sys.exit(INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)  # loads the local harness's commands: not instant
    except KeyboardInterrupt:
        print("deadline-sqs: interrupted", file=sys.stderr)
        return INTERRUPTED
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("deadline-sqs: interrupted; everything it started has been stopped", file=sys.stderr)
        return INTERRUPTED
    except (CommandError, OSError) as error:
        _error(str(error))
    except ClientError as error:
        _error(str(error).splitlines()[0])
    except BotoCoreError as error:
        _error(configuration_problem(error))
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return ERROR


def _error(message: str) -> None:
    print(f"deadline-sqs: error: {message}", file=sys.stderr)
