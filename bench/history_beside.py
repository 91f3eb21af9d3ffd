"""The history beside the tables: one batch's time with the history against the same batch without it.

DynamoDB is stubbed in-process (bench/client_only.py: every request answered with a
canned success) behind a modeled round trip of 1 s before every request
(bench/metering.py), so a batch's time is how many requests wait on each other: the
tables' own rounds, and whether the history's requests wait for them. The docs promise
both kinds of write run concurrently; with the history a batch should take at most
MAX_RATIO times as long. Median of `repeats` alternating runs per batch size, each on a
fresh processor whose table check (DescribeTable) is done before the timed batch.

    .venv/bin/python -m bench.history_beside [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import sys
import time

from bench import results, throughput
from bench.client_only import UNUSED_ENDPOINT, StubbedDynamoDB
from bench.deployment import Deployment
from bench.metering import DynamoDBMeter
from bench.replay import queue_messages
from local_pipeline.engines import local_client
from local_pipeline.generator import TrafficSettings, generate
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.history import History

LATENCY_S = 1.0
BATCH_SIZES = (10, 100)
REPEATS = 3
MAX_RATIO = 1.3
HISTORY_DAYS = 30
JOBS = 3  # enough messages for the largest batch


def one_batch(deployment: Deployment, records: list[dict], history: bool, number: int) -> dict:
    """Seconds and requests of one batch on a fresh, checked processor."""
    tables = {kind: f"{table.name}-history-beside-{number}" for kind, table in deployment.spec.tables.items()}
    client = local_client("dynamodb", UNUSED_ENDPOINT, **CLIENT_OPTIONS)
    StubbedDynamoDB(client, {tables[kind]: table.create_table_kwargs(tables[kind])
                             for kind, table in deployment.spec.tables.items()})
    processor = BatchProcessor(client, tables, history=History(f"history-{number}", HISTORY_DAYS) if history else None,
                               function_name="bench", log_stream=io.StringIO())
    processor.handle({"Records": []})  # the table check, once per container: not part of the batch
    meter = DynamoDBMeter(LATENCY_S)
    meter.attach(client)
    started = time.perf_counter()
    response = processor.handle({"Records": records})
    seconds = time.perf_counter() - started
    if response["batchItemFailures"]:
        raise RuntimeError(f"the stubbed batch reported {len(response['batchItemFailures'])} failures")
    return {"seconds": seconds, "requests": meter.http_attempts}


def measure(repeats: int = REPEATS) -> dict:
    deployment = Deployment.synthesized()
    traffic = generate(TrafficSettings(seed=throughput.SEED, jobs=JOBS, tasks_per_job=throughput.DEFAULT_TASKS_PER_JOB))
    messages = queue_messages(traffic.messages, throughput.SEED)
    numbers = itertools.count()
    runs = []
    for batch_size in BATCH_SIZES:
        records = [message.lambda_record() for message in messages[:batch_size]]
        measured: dict[bool, list[dict]] = {False: [], True: []}
        for repeat in range(repeats):
            for history in (False, True) if repeat % 2 else (True, False):
                measured[history].append(one_batch(deployment, records, history, next(numbers)))
        without, with_history = ({figure: statistics.median(run[figure] for run in measured[history])
                                  for figure in ("seconds", "requests")} for history in (False, True))
        runs.append({"batch_size": batch_size, "without": without, "with": with_history,
                     "ratio": with_history["seconds"] / without["seconds"]})
    return {"settings": {"latency_s": LATENCY_S, "repeats": repeats, "jobs": JOBS, "seed": throughput.SEED},
            "runs": runs}


def text(measured: dict, markdown: bool = False) -> str:
    settings = measured["settings"]
    rows = [[run["batch_size"], f"{run['without']['seconds']:.2f} s ({run['without']['requests']:.0f} requests)",
             f"{run['with']['seconds']:.2f} s ({run['with']['requests']:.0f} requests)", f"{run['ratio']:.2f}x"]
            for run in measured["runs"]]
    return (f"One batch of clean traffic, DynamoDB stubbed in-process behind {settings['latency_s']:g} s per request, "
            f"median of {settings['repeats']} alternating runs:\n\n"
            + results.format_table(["batch", "without the history", "with the history", "ratio"], rows, markdown))


def targets(measured: dict) -> list[results.Target]:
    return [results.Target(f"a batch with the history <= {MAX_RATIO}x without it (batch {run['batch_size']}, "
                           f"{measured['settings']['latency_s']:g} s per request)", run["ratio"] <= MAX_RATIO,
                           f"{run['ratio']:.2f}x")
            for run in measured["runs"]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=REPEATS, help=f"runs per side and batch size (default {REPEATS})")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.repeats)


if __name__ == "__main__":
    results.run_alone("history_beside", sys.modules[__name__])
