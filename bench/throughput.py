"""Throughput, DynamoDB cost and correctness: our processor beside the documented example's storing.

Both handle the same generated Deadline traffic (local_pipeline.generator, fixed seed)
against one DynamoDB Local, in one run, with tables built from the synthesized stack,
under a simulated event source that redelivers reported failures until the stack's
maxReceiveCount and then dead-letters them. For each stream x batch size x modeled
latency (a sleep before every DynamoDB request) it reports, per side:
- good notifications per handler-second: distinct good notifications stored and kept
  (neither lost to the dead-letter queue nor overwritten by an older one), over the
  summed wall time of all invocations (redeliveries included);
- this process's CPU time in the handler per good notification (what Lambda's share
  of a vCPU has to do; DynamoDB Local's own work runs in its JVM and is not in it);
- DynamoDB requests (HTTP, retries included), and write units per good notification
  and per stored notification (distinct notifications whose put took effect: writing
  the same one again, as a redelivered batch does, costs units but stores nothing new);
- the tables against the ground truth: keys correct, stale, missing, wrong; good
  notifications lost (every copy dead-lettered) or overwritten (by an older one);
and the ratios ours/baseline, the issue's targets, and the AWS cost model
(bench/costmodel.py) from the 10 ms runs.

    .venv/bin/python -m bench.throughput [--jobs 20 --tasks-per-job 50 --seed N]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from dataclasses import asdict, dataclass

from bench import costmodel, lambda_logs, results
from bench.correctness import check
from bench.deployment import Deployment
from bench.metering import DynamoDBMeter
from bench.replay import queue_messages, replay
from bench.sides import BASELINE, OURS, PUT_ITEM, Side, baseline, ours
from local_pipeline.engines import DynamoDBLocal
from local_pipeline.generator import Traffic, TrafficSettings, generate

SEED = 20240304
DEFAULT_JOBS = 5
DEFAULT_TASKS_PER_JOB = 50
STREAMS = {
    "clean": {},
    "dup30+reorder": {"duplicate_rate": 0.3, "reorder_window": 50},
    # Not one of the issue's configurations: shows what one bad record does to a batch.
    "dup30+reorder+bad": {"duplicate_rate": 0.3, "reorder_window": 50, "malformed_per_kind": 1},
}
BATCH_SIZES = (10, 100)
LATENCIES_MS = (0, 10)
COST_LATENCY_MS = 10  # a real endpoint's round trip is several ms: the cost model uses these runs
# Each side handles the whole noisy stream once before anything is measured: DynamoDB Local
# answers PartiQL statements several times slower until its JVM has run thousands of them
# (bench/README.md), and 300 messages left the first configuration measuring that.
WARM_UP_MESSAGES = None
LIBRARY_DEBUG_PROBE_MESSAGES = 200
# (batch size, modeled latency in ms) -> the least good/handler-s, as a multiple of the baseline's.
THROUGHPUT_TARGETS = {(10, 0): 1.0, (10, 10): 1.2, (100, 0): 1.0, (100, 10): 2.0}
MAX_CPU_RATIO = 0.6
SIDE_NAMES = {OURS: "ours", PUT_ITEM: "PutItem (our earlier strategy)", BASELINE: "baseline"}
RATIO_FIGURES = ("good_per_handler_second", "handler_cpu_ms_per_notification", "requests_per_notification",
                 "wcu_per_notification", "wcu_per_stored_notification")


@dataclass(frozen=True)
class Configuration:
    stream: str
    batch_size: int
    latency_ms: int


def configurations() -> list[Configuration]:
    issue_matrix = [
        Configuration(stream, batch, latency)
        for latency, batch, stream in itertools.product(LATENCIES_MS, BATCH_SIZES, ("clean", "dup30+reorder"))
    ]
    return [*issue_matrix, Configuration("dup30+reorder+bad", 10, 0)]


class Bench:
    """One DynamoDB Local, the stack's facts, and fresh tables for every run."""

    def __init__(self, engine: DynamoDBLocal, deployment: Deployment, seed: int):
        self.engine = engine
        self.deployment = deployment
        self.seed = seed
        self._admin = engine.client()
        self._run_numbers = itertools.count()

    def _create_tables(self) -> dict[str, str]:
        number = next(self._run_numbers)
        names = {}
        for kind, table in self.deployment.spec.tables.items():
            names[kind] = f"{table.name}-bench-{number}"
            self._admin.create_table(**table.create_table_kwargs(names[kind]))
        return names

    def _drop_tables(self, names: dict[str, str]) -> None:
        for name in names.values():
            self._admin.delete_table(TableName=name)

    def run_side(self, side: Side, traffic: Traffic, batch_size: int, latency_ms: int,
                 log_level: int | None = None, messages: int | None = None) -> dict:
        tables = self._create_tables()
        try:
            client = self.engine.client(**side.client_options)
            meter = DynamoDBMeter(latency_ms / 1000)
            meter.attach(client)
            handle = side.build(client, tables)
            queued = queue_messages(traffic.messages[:messages], self.seed)
            with lambda_logs.capture(side.log_format, log_level or side.root_log_level) as logs:
                outcome = replay(handle, queued, batch_size, self.deployment.spec.max_receive_count,
                                 self.deployment.timeout_seconds)
            correctness = check(self._admin, tables, traffic.truth, outcome)
        finally:
            self._drop_tables(tables)
        good = correctness.good_notifications
        log_bytes = logs.bytes + outcome.invocations * lambda_logs.platform_bytes_per_invocation(side.log_format)
        return {
            "side": side.name,
            "messages_sent": len(queued),
            "good_notifications": good,
            "good_per_handler_second": (good - correctness.lost - correctness.overwritten) / outcome.handler_seconds,
            "requests_per_notification": meter.http_attempts / good,
            "wcu_per_notification": meter.write_units / good,
            "wcu_per_stored_notification": (meter.write_units / meter.notifications_written
                                            if meter.notifications_written else None),
            "handler_seconds": outcome.handler_seconds,
            "handler_cpu_seconds": outcome.handler_cpu_seconds,
            "handler_cpu_ms_per_notification": outcome.handler_cpu_seconds * 1000 / good,
            "billed_ms": outcome.billed_ms,
            "invocations": outcome.invocations,
            "records_delivered": outcome.records_delivered,
            "handler_exceptions": outcome.handler_exceptions,
            "sqs_receive_requests": outcome.sqs_receive_requests,
            "sqs_delete_requests": outcome.sqs_delete_requests,
            "dynamodb": meter.snapshot(),
            "log_bytes": log_bytes,
            "log_bytes_by_source": dict(logs.bytes_by_source),
            "correctness": correctness.as_dict(),
        }


def compare(bench: Bench, sides: dict[str, Side], traffic: Traffic, configuration: Configuration, flip: bool) -> dict:
    """Every side on one configuration, back to back (the order reversed every other configuration)."""
    order = list(sides) if not flip else list(reversed(sides))
    measured = {name: bench.run_side(sides[name], traffic, configuration.batch_size, configuration.latency_ms)
                for name in order}
    ours_run, baseline_run = measured[OURS], measured[BASELINE]
    compared = {**asdict(configuration), **measured,
                "ratios": {figure: _ratio(ours_run[figure], baseline_run[figure]) for figure in RATIO_FIGURES}}
    if PUT_ITEM in measured:  # against the earlier strategy (one conditional PutItem per key), on the same traffic
        compared["ratios_to_put_item"] = {figure: _ratio(ours_run[figure], measured[PUT_ITEM][figure])
                                          for figure in RATIO_FIGURES}
    return compared


def _ratio(ours_figure: float | None, baseline_figure: float | None) -> float | None:
    """ours/baseline; None where the baseline's figure is 0 or None (it stored nothing at all)."""
    return ours_figure / baseline_figure if ours_figure is not None and baseline_figure else None


def _times(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def example_library_debug(bench: Bench, traffic: Traffic) -> dict:
    """What the example's root logger at DEBUG adds: botocore's own DEBUG lines, per invocation."""
    probe = bench.run_side(baseline(), traffic, 10, 0, log_level=logging.DEBUG, messages=LIBRARY_DEBUG_PROBE_MESSAGES)
    library = sum(size for source, size in probe["log_bytes_by_source"].items() if source in ("botocore", "boto3", "urllib3"))
    return {"invocations": probe["invocations"], "library_bytes_per_invocation": library / probe["invocations"]}


def measure(seed: int = SEED, jobs: int = DEFAULT_JOBS, tasks_per_job: int = DEFAULT_TASKS_PER_JOB,
            only: list[Configuration] | None = None, costs: bool = True, put_item: bool = True) -> dict:
    """Every configuration (or `only` these), with `costs` the cost model's rows (and the probe
    of the example's library DEBUG lines they need), with `put_item` the earlier strategy's side."""
    deployment = Deployment.synthesized()
    streams = {name: generate(TrafficSettings(seed=seed, jobs=jobs, tasks_per_job=tasks_per_job, **settings))
               for name, settings in STREAMS.items()}
    sides = {OURS: ours(deployment), PUT_ITEM: ours(deployment, statements=False), BASELINE: baseline()}
    if not put_item:
        del sides[PUT_ITEM]
    with DynamoDBLocal() as engine:
        bench = Bench(engine, deployment, seed)
        for side in sides.values():  # JIT, connection pools, imports: not part of any figure
            bench.run_side(side, streams["dup30+reorder"], 10, 0, messages=WARM_UP_MESSAGES)
        runs = [compare(bench, sides, streams[c.stream], c, flip=n % 2 == 1)
                for n, c in enumerate(only or configurations())]
        library_debug = example_library_debug(bench, streams["clean"]) if costs else None
    return {
        "settings": {"seed": seed, "jobs": jobs, "tasks_per_job": tasks_per_job, "streams": STREAMS, "sides": list(sides),
                     "max_receive_count": deployment.spec.max_receive_count},
        "deployment": {"memory_mb": deployment.memory_mb, "architecture": deployment.architecture,
                       "log_format": deployment.log_format,
                       "application_log_level": logging.getLevelName(deployment.application_log_level)},
        "streams": {name: {"messages": len(t.messages), "notifications": t.notifications, "duplicates": t.duplicates,
                           "malformed": len(t.malformed)} for name, t in streams.items()},
        "runs": runs,
        "example_library_debug": library_debug,
        "prices": costmodel.PRICES,
        "costs_per_million": cost_rows(runs, deployment, library_debug) if library_debug else [],
    }


def cost_rows(runs: list[dict], deployment: Deployment, library_debug: dict) -> list[dict]:
    rows = []
    for run in runs:
        if run["latency_ms"] != COST_LATENCY_MS:
            continue
        costs = {side: costmodel.per_million(run[side], deployment.memory_mb, deployment.architecture)
                 for side in (OURS, PUT_ITEM, BASELINE)}
        # The example's root logger at DEBUG also logs botocore's request and response dumps.
        example_debug = dict(run[BASELINE], log_bytes=run[BASELINE]["log_bytes"]
                             + library_debug["library_bytes_per_invocation"] * run[BASELINE]["invocations"])
        costs["baseline_with_library_debug"] = costmodel.per_million(
            example_debug, deployment.memory_mb, deployment.architecture)
        rows.append({"stream": run["stream"], "batch_size": run["batch_size"], "latency_ms": run["latency_ms"], **costs})
    return rows


def runs_table(measured: dict, markdown: bool = False) -> str:
    """One row per configuration; each cell is "ours / PutItem / baseline" (ratio ours/baseline where it says x)."""
    rows = []
    for run in measured["runs"]:
        ours_run, ratios = run[OURS], run["ratios"]
        each = [run[name] for name in _sides(measured)]

        def pair(figure: str, digits: int) -> str:
            return " / ".join(_number(side[figure], digits) for side in each)

        def not_newest(side: dict) -> str:
            c = side["correctness"]
            return f"{c['stale']}+{c['missing'] + c['wrong']}"

        def lost(side: dict) -> str:
            return f"{side['correctness']['lost']}+{side['correctness']['overwritten']}"

        def correctness(figure: str) -> str:
            return " / ".join(str(side["correctness"][figure]) for side in each)

        rows.append([
            run["stream"], run["batch_size"], run["latency_ms"],
            f"{pair('good_per_handler_second', 0)} ({_times(ratios['good_per_handler_second'])})",
            f"{pair('handler_cpu_ms_per_notification', 2)} ({_times(ratios['handler_cpu_ms_per_notification'])})",
            f"{pair('requests_per_notification', 2)}",
            f"{pair('wcu_per_notification', 2)}",
            f"{pair('wcu_per_stored_notification', 2)}",
            f"{' / '.join(map(not_newest, each))} of {ours_run['correctness']['keys']}",
            " / ".join(map(lost, each)),
            f"{correctness('bad_messages_dead_lettered')} of {run[OURS]['correctness']['bad_messages']}",
        ])
    return results.format_table(
        ["stream", "batch", "ms", "good/handler-s", "client CPU ms/good", "requests/good", "WCU/good", "WCU/stored",
         "keys stale+missing", "good lost+overwritten", "bad to DLQ"],
        rows, markdown)


def _sides(measured: dict) -> list[str]:
    """The sides of a run, in the tables' order (results saved before `sides` had all three)."""
    return measured["settings"].get("sides", [OURS, PUT_ITEM, BASELINE])


def _number(figure: float | None, digits: int) -> str:
    return "n/a" if figure is None else f"{figure:.{digits}f}"


def costs_table(measured: dict, markdown: bool = False) -> str:
    rows = []
    for row in measured["costs_per_million"]:
        for side in (OURS, PUT_ITEM, BASELINE, "baseline_with_library_debug"):
            c = row[side]
            rows.append([row["stream"], row["batch_size"], side] + [f"{c[k]:.3f}" for k in (
                "sqs", "lambda_requests", "lambda_duration", "dynamodb_writes", "cloudwatch_logs", "total")])
    return results.format_table(
        ["stream", "batch", "side", "SQS", "Lambda requests", "Lambda GB-s", "DynamoDB writes", "Logs", "total"],
        rows, markdown)


def costs_title(measured: dict) -> str:
    deployment = measured["deployment"]
    return (f"USD per million good notifications ({COST_LATENCY_MS} ms modeled latency; Lambda at "
            f"{deployment['memory_mb']} MB {deployment['architecture']} for both sides)")


def targets(measured: dict) -> list[results.Target]:
    found = []
    for run in measured["runs"]:
        where = f"{run['stream']}, batch {run['batch_size']}, {run['latency_ms']} ms"
        cpu = run["ratios"]["handler_cpu_ms_per_notification"]
        found.append(results.Target(f"client CPU per good <= {MAX_CPU_RATIO}x baseline ({where})",
                                    cpu is not None and cpu <= MAX_CPU_RATIO, _times(cpu)))
        if run["stream"] not in ("clean", "dup30+reorder"):
            continue
        minimum = THROUGHPUT_TARGETS.get((run["batch_size"], run["latency_ms"]))
        if minimum is not None:
            ratio = run["ratios"]["good_per_handler_second"]
            found.append(results.Target(
                f"good/handler-s >= {minimum}x baseline ({where})",
                ratio is None or ratio >= minimum,
                "the baseline lost every notification" if ratio is None else _times(ratio)))
    if PUT_ITEM in _sides(measured):
        worst = max(measured["runs"], key=lambda run: run["ratios_to_put_item"]["wcu_per_stored_notification"] or 0)
        ratio = worst["ratios_to_put_item"]["wcu_per_stored_notification"]
        found.append(results.Target(
            f"WCU per stored notification <= the PutItem strategy's ({len(measured['runs'])} runs)",
            ratio is not None and ratio <= 1.0,
            f"worst {_times(ratio)} ({worst['stream']}, batch {worst['batch_size']}, {worst['latency_ms']} ms)"))
    # Runs where the baseline stored nothing (batch 100: every batch holds a key twice) have no ratio.
    compared = [run for run in measured["runs"] if run["ratios"]["wcu_per_stored_notification"] is not None]
    if not compared:
        return [*found, results.Target.skipped("WCU per stored notification <= baseline", "the baseline stored nothing")]
    worst = max(compared, key=lambda run: run["ratios"]["wcu_per_stored_notification"])
    ratio = worst["ratios"]["wcu_per_stored_notification"]
    found.append(results.Target(
        f"WCU per stored notification <= baseline ({len(compared)} runs)", ratio <= 1.0,
        f"worst {_times(ratio)} ({worst['stream']}, batch {worst['batch_size']}, {worst['latency_ms']} ms)"))
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=SEED, help=f"traffic generator seed (default {SEED})")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"jobs in the farm (default {DEFAULT_JOBS})")
    parser.add_argument("--tasks-per-job", type=int, default=DEFAULT_TASKS_PER_JOB,
                        help=f"mean tasks per job (default {DEFAULT_TASKS_PER_JOB})")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.seed, args.jobs, args.tasks_per_job)


def text(measured: dict, markdown: bool = False) -> str:
    settings = measured["settings"]
    return "\n\n".join([
        f"{settings['jobs']} jobs x {settings['tasks_per_job']} tasks (seed {settings['seed']}); each cell "
        + " / ".join(SIDE_NAMES[name] for name in _sides(measured)) + ", (ratio ours/baseline):",
        runs_table(measured, markdown),
        *([costs_title(measured) + ":", costs_table(measured, markdown)] if measured["costs_per_million"] else []),
    ])


if __name__ == "__main__":
    results.run_alone("throughput", sys.modules[__name__])
