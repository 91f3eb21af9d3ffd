"""Client-only throughput: DynamoDB's answers from an in-process stub, so only the client's work is timed.

On DynamoDB Local both sides' wall time also holds the server's work on the same
2 cores (and its PartiQL is slower per statement than its BatchWriteItem per item), so
this mode takes the server out: a botocore `before-send` hook answers every request
at once with a canned success (PutItem and BatchWriteItem: nothing left unprocessed;
BatchExecuteStatement: every statement succeeded; DescribeTable: the stack's key
schema), and nothing is sent. Both sides then do everything the client does
(build, serialize, sign, parse) and nothing else. Every write succeeding is the
cheapest case for either side; the stub answers in microseconds.

    .venv/bin/python -m bench.client_only [--jobs 20 --tasks-per-job 50 --seed N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

from botocore.awsrequest import AWSResponse

from bench import lambda_logs, results, throughput
from bench.deployment import Deployment
from bench.metering import DynamoDBMeter
from bench.replay import queue_messages, replay
from bench.sides import BASELINE, OURS, PUT_ITEM, Side, baseline, ours
from local_pipeline.engines import local_client
from local_pipeline.generator import Traffic, TrafficSettings, generate

# Never contacted: the stub answers before anything is sent.
UNUSED_ENDPOINT = "http://127.0.0.1:9"
STREAMS = ("clean", "dup30+reorder")
REPEATS = 3  # alternating runs per configuration; the median counts
MIN_RATIO = 1.5
MAX_CPU_RATIO = 0.6


class _Body:
    def __init__(self, content: bytes):
        self._content = content

    def stream(self, **_):
        yield self._content


class StubbedDynamoDB:
    """A before-send hook answering each DynamoDB request with a canned success."""

    def __init__(self, client, tables: dict[str, dict]):
        self._descriptions = {name: {"Table": {key: kwargs[key] for key in ("KeySchema", "AttributeDefinitions")}}
                              for name, kwargs in tables.items()}
        client.meta.events.register_last("before-send.dynamodb", self)

    def __call__(self, request, **_):
        operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[1]
        if operation == "BatchExecuteStatement":
            answer = {"Responses": [{}] * request.body.count(b'"Statement":')}
        elif operation == "BatchWriteItem":
            answer = {"UnprocessedItems": {}}
        elif operation == "DescribeTable":
            answer = self._descriptions[json.loads(request.body)["TableName"]]
        else:
            answer = {}
        return json_response(request, answer)


def json_response(request, answer: dict, status: int = 200) -> AWSResponse:
    """DynamoDB's HTTP answer `answer` to `request`, for a before-send hook to return."""
    headers = {"x-amzn-RequestId": "stub", "Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Body(json.dumps(answer).encode()))


def run_side(side: Side, deployment: Deployment, traffic: Traffic, batch_size: int, run: int, seed: int) -> dict:
    tables = {kind: f"{table.name}-stub-{run}" for kind, table in deployment.spec.tables.items()}
    client = local_client("dynamodb", UNUSED_ENDPOINT, **side.client_options)
    meter = DynamoDBMeter()
    meter.attach(client)
    StubbedDynamoDB(client, {tables[kind]: table.create_table_kwargs(tables[kind])
                             for kind, table in deployment.spec.tables.items()})
    handle = side.build(client, tables)
    queued = queue_messages(traffic.messages, seed)
    with lambda_logs.capture(side.log_format, side.root_log_level):
        outcome = replay(handle, queued, batch_size, deployment.spec.max_receive_count, deployment.timeout_seconds)
    good = traffic.notifications
    return {
        "good_per_handler_second": good / outcome.handler_seconds,
        "handler_cpu_ms_per_notification": outcome.handler_cpu_seconds * 1000 / good,
        "requests_per_notification": meter.http_attempts / good,
    }


def measure(seed: int = throughput.SEED, jobs: int = throughput.DEFAULT_JOBS,
            tasks_per_job: int = throughput.DEFAULT_TASKS_PER_JOB, streams: tuple[str, ...] = STREAMS,
            batch_sizes: tuple[int, ...] = throughput.BATCH_SIZES, repeats: int = REPEATS) -> dict:
    deployment = Deployment.synthesized()
    sides = {OURS: ours(deployment), PUT_ITEM: ours(deployment, statements=False), BASELINE: baseline()}
    runs = []
    numbers = itertools.count()
    for stream in streams:
        traffic = generate(TrafficSettings(seed=seed, jobs=jobs, tasks_per_job=tasks_per_job,
                                           **throughput.STREAMS[stream]))
        for batch_size in batch_sizes:
            measured: dict[str, list[dict]] = {name: [] for name in sides}
            for repeat in range(repeats + 1):  # the first round warms up (imports, pools)
                order = list(sides) if repeat % 2 else list(reversed(sides))
                for name in order:
                    figures = run_side(sides[name], deployment, traffic, batch_size, next(numbers), seed)
                    if repeat:
                        measured[name].append(figures)
            medians = {name: {figure: _median([run[figure] for run in side_runs]) for figure in side_runs[0]}
                       for name, side_runs in measured.items()}
            runs.append({"stream": stream, "batch_size": batch_size, **medians, "ratios": {
                figure: medians[OURS][figure] / medians[BASELINE][figure] for figure in medians[OURS]}})
    return {"settings": {"seed": seed, "jobs": jobs, "tasks_per_job": tasks_per_job, "repeats": repeats}, "runs": runs}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def table(measured: dict, markdown: bool = False) -> str:
    rows = []
    for run in measured["runs"]:
        ratios = run["ratios"]

        def cell(figure: str, digits: int) -> str:
            return " / ".join(f"{run[side][figure]:.{digits}f}" for side in (OURS, PUT_ITEM, BASELINE))

        rows.append([
            run["stream"], run["batch_size"],
            f"{cell('good_per_handler_second', 0)} ({ratios['good_per_handler_second']:.2f}x)",
            f"{cell('handler_cpu_ms_per_notification', 2)} ({ratios['handler_cpu_ms_per_notification']:.2f}x)",
            cell("requests_per_notification", 2),
        ])
    return results.format_table(["stream", "batch", "good/handler-s", "client CPU ms/good", "requests/good"],
                                rows, markdown)


def targets(measured: dict) -> list[results.Target]:
    found = []
    for run in measured["runs"]:
        where = f"client only, {run['stream']}, batch {run['batch_size']}"
        ratio = run["ratios"]["good_per_handler_second"]
        if run["batch_size"] == 10:
            found.append(results.Target(f"good/handler-s >= {MIN_RATIO}x baseline ({where})", ratio >= MIN_RATIO,
                                        f"{ratio:.2f}x"))
        cpu = run["ratios"]["handler_cpu_ms_per_notification"]
        found.append(results.Target(f"client CPU/good <= {MAX_CPU_RATIO}x baseline ({where})", cpu <= MAX_CPU_RATIO,
                                    f"{cpu:.2f}x"))
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    throughput.add_arguments(parser)


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.seed, args.jobs, args.tasks_per_job)


def text(measured: dict, markdown: bool = False) -> str:
    settings = measured["settings"]
    return (f"{settings['jobs']} jobs x {settings['tasks_per_job']} tasks (seed {settings['seed']}), DynamoDB stubbed "
            f"in-process, median of {settings['repeats']} alternating runs; each cell ours / PutItem (our earlier "
            "strategy) / baseline, (ratio ours/baseline):\n\n"
            + table(measured, markdown))


if __name__ == "__main__":
    results.run_alone("client_only", sys.modules[__name__])
