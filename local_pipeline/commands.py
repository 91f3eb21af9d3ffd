"""The local harness's commands for `deadline-sqs`: demo, local and generate.

Registered through the entry point group `deadline_sqs.commands` (pyproject.toml), so
the shipped command never imports this package.
"""

from __future__ import annotations

import argparse
import os
from contextlib import ExitStack
from pathlib import Path

from deadline_sqs.cli import OK, PROBLEMS, AddCommand, count
from deadline_sqs.local_target import LOCAL_ARCHIVE_FOLDER, remove_local_target, write_local_target
from local_pipeline import demo as demo_module
from local_pipeline.archive import ARCHIVE_REFRESH_SECONDS, ArchiveRefresher
from local_pipeline.generator import TrafficSettings, generate, write_messages, write_truth
from local_pipeline.pipeline import (
    LOCAL_POLLERS,
    LOCAL_TIME_LIMIT_FACTOR,
    MIN_LOCAL_VISIBILITY_TIMEOUT,
    LocalPipeline,
    wait_until_interrupted,
)
from local_pipeline.spec import PipelineSpec


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _traffic_options(parser: argparse.ArgumentParser, defaults: TrafficSettings) -> None:
    group = parser.add_argument_group("traffic")
    group.add_argument("--seed", type=int, default=defaults.seed, help="same seed, same traffic (default %(default)s)")
    group.add_argument("--jobs", type=count(1), default=defaults.jobs, help="jobs on the farm (default %(default)s)")
    group.add_argument(
        "--tasks-per-job", type=count(1), default=defaults.tasks_per_job,
        help="average tasks per job (default %(default)s)",
    )
    group.add_argument(
        "--duplicates", type=fraction, default=defaults.duplicate_rate,
        help="chance that a notification is delivered twice, 0 to 1 (default %(default)s)",
    )
    group.add_argument(
        "--reorder", type=count(0), default=defaults.reorder_window,
        help="how many positions a message may move from its place in time (default %(default)s)",
    )
    group.add_argument(
        "--malformed-per-kind", type=count(0), default=defaults.malformed_per_kind,
        help="bad messages of each kind the processor must reject (default %(default)s)",
    )
    group.add_argument(
        "--failing-worker", action=argparse.BooleanOptionalAction, default=defaults.failing_worker,
        help="a worker failing every task it starts for a while, across jobs (default %(default)s)",
    )


def _traffic_settings(args) -> TrafficSettings:
    return TrafficSettings(
        seed=args.seed,
        jobs=args.jobs,
        tasks_per_job=args.tasks_per_job,
        duplicate_rate=args.duplicates,
        reorder_window=args.reorder,
        malformed_per_kind=args.malformed_per_kind,
        failing_worker=args.failing_worker,
    )


def _template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="`cdk synth` output (default %(default)s)")
    parser.add_argument("--stack", help="the stack in cdk.out, if it holds more than one")
    parser.add_argument(
        "--visibility-timeout", type=count(2),
        help="the local queue's visibility timeout in seconds, also the handler's time limit (the processor keeps "
        "1 s of it back); the template's batching window is scaled with it (default: measured at start-up, "
        f"{LOCAL_TIME_LIMIT_FACTOR}x the slowest warm-up batch plus that 1 s, at least {MIN_LOCAL_VISIBILITY_TIMEOUT})",
    )
    parser.add_argument(
        "--pollers", type=count(1),
        help=f"concurrent invocations (default: the event source's maximum concurrency, at most {LOCAL_POLLERS})",
    )


def _spec(args) -> PipelineSpec:
    return PipelineSpec.from_cdk_out(args.cdk_out, args.stack)


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


def run_demo(args) -> int:
    settings = demo_module.DemoSettings(
        traffic=_traffic_settings(args),
        visibility_timeout=args.visibility_timeout,
        pollers=args.pollers,
        timeout=args.timeout,
        progress=not args.no_progress,
        archive=args.archive,
    )
    report = demo_module.run_demo(_spec(args), settings)
    print(demo_module.summary(report))
    return OK if report.ok else PROBLEMS


def run_local(args) -> int:
    pipeline = LocalPipeline(_spec(args), args.visibility_timeout, args.pollers)
    print("Starting the local engines and timing the processor on a warm-up batch ...", flush=True)
    with ExitStack() as running:
        running.push(pipeline)  # before entering: an interrupt at any moment of the start-up reaches its __exit__
        pipeline.__enter__()
        print(pipeline.time_scale_line(), flush=True)
        running.enter_context(pipeline.processing())
        resources = pipeline.resources
        if resources.status_events:
            running.enter_context(pipeline.publishing())
        if resources.history_table:
            refresher = ArchiveRefresher(pipeline.dynamodb.client(), resources.history_table, LOCAL_ARCHIVE_FOLDER)
            running.enter_context(refresher)
        if resources.deliveries:
            running.enter_context(pipeline.delivering())
        running.callback(remove_local_target)  # before writing it: removing a missing file does nothing
        path = write_local_target(pipeline.local_target(os.getpid()))
        print(f"The local pipeline is running; Ctrl-C stops it. Its endpoints and names are in {path}, so in")
        print("another shell in this folder the operator commands reach it with --local:")
        examples = ["smoke", "verify", "status JOB_ID", "dlq", "send FILE"]
        if resources.deliveries:
            examples.append("subscribe --user NAME --queue QUEUE")
        for example in examples:
            print(f"  deadline-sqs {example} --local")
        if resources.history_table:
            print(
                f"The history is written as the local archive ({LOCAL_ARCHIVE_FOLDER}) every {ARCHIVE_REFRESH_SECONDS} s: "
                "deadline-sqs report NAME --local"
            )
        if resources.status_events:
            print(f"Every status-change event on the bus {resources.status_events.bus_name} lands in")
            print(f"  {resources.status_events.events_queue_url}")
        print("The processor's log lines follow.", flush=True)  # (and the publisher's, with status events)
        wait_until_interrupted()
    return OK


def add_commands(command: AddCommand) -> None:
    """Add the harness's commands to deadline-sqs's parser (the entry point)."""
    sub = command("generate", run_generate, "Write a generated farm's notifications as JSON lines (and its ground truth).")
    sub.add_argument("--out", type=Path, required=True, help="the JSON lines file to write")
    sub.add_argument("--truth", type=Path, help="also write the newest state per job and task here (JSON)")
    _traffic_options(sub, TrafficSettings())

    sub = command("demo", run_demo, "Run the synthesized stack on local engines with generated traffic and check it.")
    _template_options(sub)
    sub.add_argument(
        "--timeout", type=float,
        help=f"seconds allowed for processing (default: {demo_module.PROCESSING_SECONDS} plus the time a bad message "
        "needs to reach the DLQ)",
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bars")
    sub.add_argument(
        "--archive", type=Path,
        help="keep the local archive (the history as Parquet) in this folder, for `deadline-sqs report --archive` "
        f"(make demo: {LOCAL_ARCHIVE_FOLDER}, which --local reads; default: a temporary folder)",
    )
    _traffic_options(sub, demo_module.DEMO_TRAFFIC)

    sub = command("local", run_local, "Keep the synthesized stack running on local engines, with the processor, until Ctrl-C.")
    _template_options(sub)
