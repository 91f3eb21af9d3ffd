"""The failing-worker check: what it adds per million notifications, on the demo's traffic.

    .venv/bin/python -m bench.farm_health

Builds the history's stream from the demo's traffic (20 jobs with a failing worker; each
distinct notification once, as the history writes it, in arrival order), passes it through
the template's event filter, and hands each failure to the real check alone (one
invocation per failure: a quiet farm, the dearest case; a busy one fills batches of up to
the mapping's batch size) on DynamoDB Local and moto's EventBridge. Prices with
bench/costmodel.py what the run used: invocations, handler time on this machine, the
state's write and read units as DynamoDB Local reports them (ReturnConsumedCapacity; a
transaction's write units doubled, as AWS charges them), log lines, events.
"""

from __future__ import annotations

import io
import sys
import time
from collections import Counter

from bench import costmodel, lambda_logs, results
from farm_health.monitor import JOB_TABLE_VARIABLE, STATE_TABLE_VARIABLE, FarmHealthMonitor
from local_pipeline.demo import DEMO_TRAFFIC
from local_pipeline.engines import DynamoDBLocal, LocalSQS
from local_pipeline.event_filter import matches
from local_pipeline.generator import generate
from local_pipeline.spec import PipelineSpec
from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from notification_processor.roles import JOB
from stacks.roles import FARM_HEALTH_HANDLER
from stacks.synth import synthesize_template
from status_events.publisher import EVENT_BUS_VARIABLE

HISTORY_DAYS = 90


def history_records(bodies: list[str]) -> list[dict]:
    """The history's stream for these bodies: one INSERT per distinct notification, in arrival order."""
    now, seen, records = time.time(), set(), []
    for number, body in enumerate(bodies):
        notification = parse_record({"messageId": str(number), "body": body,
                                     "attributes": {"SentTimestamp": str(int(now * 1000))}})  # fmt: skip
        if not isinstance(notification, Notification):
            continue
        (entry,) = history_entries([notification], now, HISTORY_DAYS)
        if entry.key not in seen:
            seen.add(entry.key)
            records.append({"eventName": "INSERT", "dynamodb": {"NewImage": entry.item, "SequenceNumber": str(number)}})
    return records


class Capacity:
    """The capacity units DynamoDB Local reports, by operation (botocore's after-call hook)."""

    def __init__(self, client):
        self.units: Counter = Counter()
        client.meta.events.register("before-parameter-build.dynamodb", self._ask)
        client.meta.events.register("after-call.dynamodb", self._count)

    @staticmethod
    def _ask(params, model, **_):
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def _count(self, parsed, model, **_):
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in [consumed] if isinstance(consumed, dict) else consumed:
            self.units[model.name] += entry.get("CapacityUnits", 0.0)


def measure() -> dict:
    template = synthesize_template()
    spec = PipelineSpec.from_template(template)
    assert spec.farm_health is not None, "the default template has the failing-worker check"
    check = next(r["Properties"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == FARM_HEALTH_HANDLER)  # fmt: skip
    memory_mb, architecture = check["MemorySize"], check["Architectures"][0]
    traffic = generate(DEMO_TRAFFIC)
    records = history_records([message.body for message in traffic.messages])
    failures = [r for r in records if any(matches(p, r) for p in spec.farm_health.filter_patterns)]
    with DynamoDBLocal() as dynamodb_local, LocalSQS() as sqs_local:
        dynamodb = dynamodb_local.client()
        for table in (spec.farm_health.state_table, spec.tables[JOB]):
            dynamodb.create_table(**table.create_table_kwargs())
        events = sqs_local.events_client()
        events.create_event_bus(Name=spec.status_events.bus_name)
        environment = {**spec.farm_health.environment, STATE_TABLE_VARIABLE: spec.farm_health.state_table.name,
                       JOB_TABLE_VARIABLE: spec.tables[JOB].name, EVENT_BUS_VARIABLE: spec.status_events.bus_name}  # fmt: skip
        capacity = Capacity(dynamodb)
        monitor = FarmHealthMonitor.from_environment(environment, dynamodb, events)
        log = io.StringIO()
        monitor._stream = log
        billed_ms = 0
        for record in failures:
            started = time.monotonic()
            monitor.handle({"Records": [record]})
            billed_ms += int((time.monotonic() - started) * 1000) + 1
        alerts = log.getvalue().count('"event":"worker_failing"')
    log_bytes = len(log.getvalue().encode()) + lambda_logs.platform_bytes_per_invocation(lambda_logs.JSON) * len(failures)
    run = {
        "notifications": traffic.notifications,
        "history_records": len(records),
        "failures": len(failures),
        "invocations": len(failures),
        "billed_ms": billed_ms,
        "log_bytes": log_bytes,
        # DynamoDB Local reports a transaction's items at the standard rate; AWS charges a transactional
        # write 2 write units per KB ("Read/write capacity mode" in the DynamoDB Developer Guide).
        "write_units": 2 * capacity.units["TransactWriteItems"] + capacity.units["PutItem"],
        "read_units": capacity.units["GetItem"] + capacity.units["Query"] + capacity.units["BatchGetItem"],
        "capacity_by_operation": dict(capacity.units),
        "events": alerts,
    }
    return {
        "settings": {"traffic": vars(DEMO_TRAFFIC), "memory_mb": memory_mb, "architecture": architecture},
        "run": run,
        "prices": costmodel.PRICES,
        "costs_per_million": costmodel.failing_workers_per_million(run, memory_mb, architecture),
    }


def text(measured: dict, markdown: bool = False) -> str:
    run, costs, settings = measured["run"], measured["costs_per_million"], measured["settings"]
    per = run["failures"]
    facts = results.format_table(
        ["per failure", "value"],
        [
            ["write units (the failure's item and the worker's state, transactional)", f"{run['write_units'] / per:.2f}"],
            ["read units (the state, the failures a window either side)", f"{run['read_units'] / per:.2f}"],
            ["handler ms (this machine)", f"{run['billed_ms'] / per:.1f}"],
        ],
        markdown,
    )
    names = ["check_requests", "check_duration", "check_logs", "state_writes", "state_reads", "events_and_alerts", "total"]
    prices = results.format_table(
        ["Lambda requests", "Lambda GB-s", "Logs", "state writes", "state reads", "events and alerts", "total"],
        [[f"{costs[name]:.4f}" for name in names]],
        markdown,
    )
    return "\n\n".join([
        f"The demo's traffic: {run['notifications']} notifications, {run['failures']} failed tasks "
        f"({run['failures'] / run['notifications']:.1%}), {run['events']} failing-worker event(s); the check at "
        f"{settings['memory_mb']} MB {settings['architecture']}, one invocation per failure:",
        facts,
        "USD per million notifications, added to the pipeline's:",
        prices,
    ])


def targets(measured: dict) -> list[results.Target]:
    run = measured["run"]
    return [results.Target("failing workers: the demo's one event", run["events"] == 1, f"{run['events']} events")]


def add_arguments(parser) -> None:
    """No options: the demo's traffic, so the figures match `make demo`'s."""


def measure_from(args) -> dict:
    return measure()


if __name__ == "__main__":
    results.run_alone("farm_health", sys.modules[__name__])
