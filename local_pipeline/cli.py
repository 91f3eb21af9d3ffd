"""`deadline-sqs`: the local demo, the traffic generator and the operator commands.

Expected failures (an engine that cannot start, no cdk.out, a missing queue,
missing credentials, ...) end with one line on stderr and a non-zero exit code,
never a traceback: 1 for a check that found problems, 2 for an error, 130 when
interrupted.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from tqdm import tqdm

from local_pipeline import demo as demo_module
from local_pipeline.dead_letters import peek_dead_letters
from local_pipeline.engines import EngineError, local_aws_environment
from local_pipeline.generator import TrafficFileError, TrafficSettings, generate, read_messages, write_messages, write_truth
from local_pipeline.local_stack import DEFAULT_LOCAL_VISIBILITY_TIMEOUT, local_pipeline
from local_pipeline.operator_commands import (
    OperatorError,
    format_status,
    job_status,
    redrive,
    resolve_deployment,
    smoke,
)
from local_pipeline.sender import send_bodies
from local_pipeline.spec import PipelineSpec, SpecError

OK, PROBLEMS, ERROR, INTERRUPTED = 0, 1, 2, 130
DEMO_DEFAULTS = demo_module.DEMO_TRAFFIC


def _count(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its "invalid ... value" message
    return parse


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _traffic_options(parser: argparse.ArgumentParser, defaults: TrafficSettings) -> None:
    group = parser.add_argument_group("traffic")
    group.add_argument("--seed", type=int, default=defaults.seed, help="same seed, same traffic (default %(default)s)")
    group.add_argument("--jobs", type=_count(1), default=defaults.jobs, help="jobs on the farm (default %(default)s)")
    group.add_argument(
        "--tasks-per-job", type=_count(1), default=defaults.tasks_per_job,
        help="average tasks per job (default %(default)s)",
    )
    group.add_argument(
        "--duplicates", type=fraction, default=defaults.duplicate_rate,
        help="chance that a notification is delivered twice, 0 to 1 (default %(default)s)",
    )
    group.add_argument(
        "--reorder", type=_count(0), default=defaults.reorder_window,
        help="how many positions a message may move from its place in time (default %(default)s)",
    )
    group.add_argument(
        "--malformed-per-kind", type=_count(0), default=defaults.malformed_per_kind,
        help="bad messages of each kind the processor must reject (default %(default)s)",
    )


def _traffic_settings(args) -> TrafficSettings:
    return TrafficSettings(
        seed=args.seed,
        jobs=args.jobs,
        tasks_per_job=args.tasks_per_job,
        duplicate_rate=args.duplicates,
        reorder_window=args.reorder,
        malformed_per_kind=args.malformed_per_kind,
    )


def _template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="`cdk synth` output (default %(default)s)")
    parser.add_argument("--stack", help="the stack in cdk.out, if it holds more than one")
    parser.add_argument(
        "--visibility-timeout", type=_count(2), default=DEFAULT_LOCAL_VISIBILITY_TIMEOUT,
        help="the local queue's visibility timeout in seconds, also the handler's time limit (the processor keeps "
        "1 s of it back); the template's batching window is scaled with it (default %(default)s)",
    )
    parser.add_argument(
        "--pollers", type=_count(1),
        help=f"concurrent invocations (default: the event source's maximum concurrency, at most {demo_module.LOCAL_POLLERS})",
    )


def _target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "deployment",
        "Where the pipeline is: --stack-name reads its outputs from CloudFormation; explicit values override them. "
        "AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_DYNAMODB point the clients at other endpoints (local engines).",
    )
    group.add_argument("--stack-name", help="the deployed stack (outputs QueueUrl, DeadLetterQueueUrl, JobTableName, TaskTableName)")
    group.add_argument("--queue-url", help="the notification queue")
    group.add_argument("--dlq-url", help="the dead-letter queue")
    group.add_argument("--job-table", help="the job table")
    group.add_argument("--task-table", help="the task table")
    group.add_argument("--region", help="AWS region (default: from the AWS configuration)")
    group.add_argument("--profile", help="AWS profile (default: from the AWS configuration)")


def _session(args) -> boto3.Session:
    return boto3.Session(profile_name=args.profile, region_name=args.region)


def _deployment(args, session: boto3.Session):
    return resolve_deployment(
        lambda: session.client("cloudformation"),
        args.stack_name,
        queue_url=args.queue_url,
        dead_letter_queue_url=args.dlq_url,
        job_table=args.job_table,
        task_table=args.task_table,
    )


def _spec(args) -> PipelineSpec:
    return PipelineSpec.from_cdk_out(args.cdk_out, args.stack)


# --- commands ------------------------------------------------------------------------------


def run_generate(args) -> int:
    traffic = generate(_traffic_settings(args))
    write_messages(args.out, traffic.messages)
    print(
        f"Wrote {len(traffic.messages)} messages to {args.out}: {traffic.notifications} notifications, "
        f"{traffic.duplicates} duplicates, {len(traffic.malformed)} malformed"
    )
    if args.truth:
        write_truth(args.truth, traffic.truth)
        print(f"Wrote the ground truth ({len(traffic.truth.jobs)} jobs, {len(traffic.truth.tasks)} tasks) to {args.truth}")
    return OK


def run_send(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("queue_url")
    bodies = [message.body for message in read_messages(args.file)]
    with tqdm(total=len(bodies), desc="sending", unit="msg", disable=args.quiet) as bar:
        report = send_bodies(session.client("sqs"), deployment.queue_url, bodies, bar.update)
    print(f"Sent {report.sent} of {len(bodies)} messages to {deployment.queue_url}")
    for failure in report.failures:
        print(f"  line {failure.index + 1}: {failure.code}: {failure.message}")
    return PROBLEMS if report.failures else OK


def run_demo(args) -> int:
    settings = demo_module.DemoSettings(
        traffic=_traffic_settings(args),
        visibility_timeout=args.visibility_timeout,
        pollers=args.pollers,
        timeout=args.timeout,
        progress=not args.no_progress,
    )
    report = demo_module.run_demo(_spec(args), settings)
    print(demo_module.summary(report))
    return OK if report.ok else PROBLEMS


def run_local(args) -> int:
    spec = _spec(args)
    pollers = demo_module.poller_count(spec, args.pollers)
    print(demo_module.time_scale_line(spec, args.visibility_timeout))
    with local_pipeline(spec, args.visibility_timeout) as pipeline, demo_module.local_processor(spec, pipeline, pollers):
        resources = pipeline.resources
        environment = local_aws_environment(
            dynamodb_endpoint=pipeline.dynamodb.endpoint_url, sqs_endpoint=pipeline.sqs.endpoint_url
        )
        print("The local pipeline is running; Ctrl-C stops it. In another shell:")
        print("  export " + " ".join(f"{name}={value}" for name, value in environment.items()))
        target = (
            f"--queue-url {resources.queue_url} --dlq-url {resources.dead_letter_queue_url} "
            f"--job-table {resources.job_table} --task-table {resources.task_table}"
        )
        print(f"  deadline-sqs smoke {target}")
        print(f"  deadline-sqs dlq {target}")
        print("The processor's log lines follow.", flush=True)
        threading.Event().wait()  # until Ctrl-C or SIGTERM
    return OK


def run_smoke(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("queue_url", "job_table", "task_table")
    result = smoke(session.client("sqs"), session.client("dynamodb"), deployment, timeout=args.timeout)
    print(
        f"OK: test job {result.job_id} stored after {result.job_seconds:.2f} s and its task after "
        f"{result.task_seconds:.2f} s (end to end, from sending); the test items were deleted"
    )
    return OK


def run_status(args) -> int:
    session = _session(args)
    deployment = _deployment(args, session).require("job_table", "task_table")
    status = job_status(session.client("dynamodb"), deployment, args.job_id)
    print(format_status(status, args.job_id))
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
    print(f"Starting a message-move task from {deployment.dead_letter_queue_url} ...")
    try:
        task = redrive(session.client("sqs"), deployment, max_per_second=args.max_per_second, wait=not args.no_wait)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "500":  # AWS names its errors; moto's bare 500 is HTML
            raise
        raise OperatorError(
            "the SQS endpoint failed on StartMessageMoveTask (HTTP 500); local SQS (moto 5.2.5) does not "
            "implement message-move tasks, so redrive works against AWS only"
        ) from None
    total = "" if task.to_move is None else f" of {task.to_move}"
    print(f"{task.status}: {task.moved}{total} messages moved" + (f" ({task.failure})" if task.failure else ""))
    return PROBLEMS if task.status in ("FAILED", "CANCELLED") else OK


# --- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deadline-sqs",
        description="Deadline 10 SQS notifications: local demo, traffic generator, operator commands.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(run=run)
        return sub

    sub = command("generate", run_generate, "Write a generated farm's notifications as JSON lines (and its ground truth).")
    sub.add_argument("--out", type=Path, required=True, help="the JSON lines file to write")
    sub.add_argument("--truth", type=Path, help="also write the newest state per job and task here (JSON)")
    _traffic_options(sub, TrafficSettings())

    sub = command("send", run_send, "Send a generated JSON lines file to a queue with SendMessageBatch.")
    sub.add_argument("file", type=Path, help="a file written by `deadline-sqs generate`")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")
    _target_options(sub)

    sub = command("demo", run_demo, "Run the synthesized stack on local engines with generated traffic and check it.")
    _template_options(sub)
    sub.add_argument("--timeout", type=float, default=300, help="seconds allowed for processing (default %(default)s)")
    sub.add_argument("--no-progress", action="store_true", help="no progress bars")
    _traffic_options(sub, DEMO_DEFAULTS)

    sub = command("local", run_local, "Keep the synthesized stack running on local engines, with the processor, until Ctrl-C.")
    _template_options(sub)

    sub = command("smoke", run_smoke, "Send a test job and task notification, wait until both are stored, delete them.")
    sub.add_argument("--timeout", type=float, default=120, help="seconds to wait for the items (default %(default)s)")
    _target_options(sub)

    sub = command("status", run_status, "Print a job's stored state and its tasks'.")
    sub.add_argument("job_id", metavar="JOB_ID")
    _target_options(sub)

    sub = command("dlq", run_dlq, "List dead-lettered messages and why each was rejected, without removing them.")
    sub.add_argument("--limit", type=_count(1), default=1000, help="list at most this many (default %(default)s)")
    sub.add_argument("--show-body", action="store_true", help="also print each message's body (shortened)")
    _target_options(sub)

    sub = command("redrive", run_redrive, "Move dead-lettered messages back to the queue (SQS message-move task).")
    sub.add_argument("--max-per-second", type=_count(1), help="message-move rate (default: chosen by SQS)")
    sub.add_argument("--no-wait", action="store_true", help="start the task and return")
    _target_options(sub)
    return parser


def _exit_on_sigterm(signum, frame) -> None:
    # SIGTERM unwinds like Ctrl-C does, so every engine and poller started is stopped.
    sys.exit(INTERRUPTED)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("deadline-sqs: interrupted; everything it started has been stopped", file=sys.stderr)
        return INTERRUPTED
    except (EngineError, SpecError, OperatorError, demo_module.DemoError, TrafficFileError, OSError) as error:
        _error(str(error))
    except ClientError as error:
        _error(str(error).splitlines()[0])
    except BotoCoreError as error:
        _error(f"{error} (AWS configuration: credentials, region, endpoint)")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return ERROR


def _error(message: str) -> None:
    print(f"deadline-sqs: error: {message}", file=sys.stderr)
