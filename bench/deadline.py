"""The handler's time against its deadline on the largest batch the stack accepts.

One event of batch_size's maximum (10,000 records of generated traffic) and a modeled
round trip before every DynamoDB request, with the function's default timeout left,
then with less time than the batch needs: the handler must stop waiting, report what
is unfinished, and return before Lambda's deadline (a late return times the invocation
out, and Lambda retries the whole batch). Per try: when it returned, against the
deadline; records done (stored, superseded or invalid) and failed; log lines written.

    .venv/bin/python -m bench.deadline [--tries 3] [--latency-ms 10]
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time

from bench import results
from bench.metering import DynamoDBMeter
from bench.replay import queue_messages
from bench.throughput import SEED
from local_pipeline.engines import LOCAL_REGION, DynamoDBLocal
from local_pipeline.event_source import LambdaContext, failed_message_ids
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.spec import PipelineSpec
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.notifications import Notification, parse_record
from stacks.config import MAX_BATCH_SIZE, load_config, project_context

TRIES = 2
# Less time than the batch needs on the benchmarks' 2-core machine: the handler must stop and return.
SQUEEZED_SECONDS_LEFT = 8
LATENCY_MS = 10
# Enough farm for MAX_BATCH_SIZE messages (about 80 per job at 50 tasks per job).
JOBS = 130
TASKS_PER_JOB = 50


def one_try(engine: DynamoDBLocal, spec: PipelineSpec, event: dict, seconds_left: int, latency_ms: int,
            number: int) -> dict:
    admin = engine.client()
    tables = {kind: f"{table.name}-deadline-{number}" for kind, table in spec.tables.items()}
    for kind, table in spec.tables.items():
        admin.create_table(**table.create_table_kwargs(tables[kind]))
    try:
        client = engine.client(**CLIENT_OPTIONS)
        DynamoDBMeter(latency_ms / 1000).attach(client)
        log = io.StringIO()
        processor = BatchProcessor(client, tables, function_name="bench", log_stream=log)
        context = LambdaContext("bench", LOCAL_REGION, seconds_left)
        started, cpu_started = time.perf_counter(), time.process_time()
        response = processor.handle(event, context)
        returned_after, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        # Writes still running when the handler returned end within the client's timeouts.
        time.sleep(CLIENT_OPTIONS["connect_timeout"] + CLIENT_OPTIONS["read_timeout"])
    finally:
        for name in tables.values():
            admin.delete_table(TableName=name)
    ids = [record["messageId"] for record in event["Records"]]
    failed = failed_message_ids(response, ids)
    return {
        "returned_after_s": returned_after,
        "deadline_s": seconds_left,
        "before_deadline_s": seconds_left - returned_after,
        "records": len(ids),
        "records_failed": len(failed),
        "cpu_ms_per_record_done": cpu * 1000 / max(1, len(ids) - len(failed)),
        "log_lines": len(log.getvalue().splitlines()),
    }


def measure(tries: int = TRIES, latency_ms: int = LATENCY_MS) -> dict:
    config = load_config(project_context())
    spec = PipelineSpec.from_template(_template())
    traffic = generate(TrafficSettings(seed=SEED, jobs=JOBS, tasks_per_job=TASKS_PER_JOB))
    messages = queue_messages(traffic.messages, SEED)[:MAX_BATCH_SIZE]
    if len(messages) < MAX_BATCH_SIZE:
        raise RuntimeError(f"the generated farm has {len(messages)} messages, fewer than {MAX_BATCH_SIZE}")
    for message in messages:
        message.receive_count = 1
    event = {"Records": [message.lambda_record() for message in messages]}
    keys = {(parsed.kind, parsed.key) for parsed in map(parse_record, event["Records"]) if isinstance(parsed, Notification)}
    numbers = itertools.count()
    with DynamoDBLocal() as engine:
        runs = [one_try(engine, spec, event, seconds_left, latency_ms, next(numbers))
                for seconds_left in (config.function_timeout_seconds, SQUEEZED_SECONDS_LEFT) for _ in range(tries)]
    return {"settings": {"batch_size": MAX_BATCH_SIZE, "latency_ms": latency_ms, "tries": tries,
                         "records": len(event["Records"]), "keys": len(keys)},
            "runs": runs}


def _template() -> dict:
    from stacks.synth import synthesize_template  # imports the CDK: only when measuring

    return synthesize_template()


def text(measured: dict, markdown: bool = False) -> str:
    settings = measured["settings"]
    rows = [[f"{run['deadline_s']} s", f"{run['returned_after_s']:.2f} s", f"{run['before_deadline_s']:.2f} s",
             f"{run['records'] - run['records_failed']:,}", f"{run['records_failed']:,}", run["log_lines"],
             f"{run['cpu_ms_per_record_done']:.2f}"]
            for run in measured["runs"]]
    title = (f"One event of {settings['records']:,} records ({settings['keys']:,} jobs and tasks), "
             f"{settings['latency_ms']} ms modeled latency per DynamoDB request, {settings['tries']} tries per time left:")
    table = results.format_table(
        ["time left", "returned after", "to spare", "records done", "records failed", "log lines",
         "client CPU ms/record done"], rows, markdown)
    return f"{title}\n\n{table}"


def targets(measured: dict) -> list[results.Target]:
    runs = measured["runs"]
    worst = min(run["before_deadline_s"] for run in runs)
    return [results.Target(f"batch {measured['settings']['batch_size']:,}: returns before its deadline ({len(runs)} tries)",
                           worst > 0, f"worst {worst:.2f} s to spare")]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tries", type=int, default=TRIES, help=f"handler invocations (default {TRIES})")
    parser.add_argument("--latency-ms", type=int, default=LATENCY_MS,
                        help=f"modeled round trip per DynamoDB request (default {LATENCY_MS})")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.tries, args.latency_ms)


if __name__ == "__main__":
    results.run_alone("deadline", sys.modules[__name__])
