"""Status-change events and the history: what they add per million notifications, on the demo's traffic.

    .venv/bin/python -m bench.status_events

Runs the demo's pipeline (the repository's default template, status-change events
on) on its traffic (20 jobs, duplicates and reordering), and prices what the run
used with bench/costmodel.py: the publisher's invocations, its handler time (on this
machine, against local EventBridge) and log lines, the events it published, the
alerts. The history (off by default) is priced from the same traffic: one write per
distinct notification and one refused conditional write per duplicate, each charged
by the entry's size in write units.
"""

from __future__ import annotations

import math
import sys
import time

from bench import costmodel, lambda_logs, results
from local_pipeline.demo import DemoSettings, run_demo
from local_pipeline.spec import PipelineSpec
from notification_processor.attributes import item_size
from notification_processor.history import history_entries
from notification_processor.notifications import Notification, parse_record
from stacks.roles import PUBLISHER_HANDLER
from stacks.synth import synthesize_template

WRITE_UNIT_BYTES = 1024
PUBLISHER_LINES = ("events_published", "publish_failed", "record_unreadable")
HISTORY_DAYS = 90  # an entry's expiry does not change its size in write units


def history_write_units(bodies: list[str]) -> int:
    """Write units of the history for these message bodies (duplicates included, bad ones skipped)."""
    units = 0
    now = time.time()  # SQS's receipt after the generated Timestamps: an earlier one would refuse them all
    for number, body in enumerate(bodies):
        record = {"messageId": str(number), "body": body, "attributes": {"SentTimestamp": str(int(now * 1000))}}
        notification = parse_record(record)
        if isinstance(notification, Notification):
            (entry,) = history_entries([notification], now, HISTORY_DAYS)
            units += math.ceil(item_size(entry.item) / WRITE_UNIT_BYTES)
    return units


def measure() -> dict:
    template = synthesize_template()
    publisher = next(
        r["Properties"] for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"]["Handler"] == PUBLISHER_HANDLER
    )
    memory_mb, architecture = publisher["MemorySize"], publisher["Architectures"][0]
    report = run_demo(PipelineSpec.from_template(template), DemoSettings(progress=False), say=lambda _: None)
    events = report.status_events
    assert events is not None, "the default template has status-change events"
    traffic = report.traffic
    run = {
        "notifications": traffic.notifications,
        "messages": len(traffic.messages),
        "duplicates": traffic.duplicates,
        "stream_records": events.publisher.records,
        "publisher_invocations": events.publisher.invocations,
        "publisher_billed_ms": events.publisher.billed_ms,
        "publisher_log_bytes": sum(report.processor.line_bytes[line] for line in PUBLISHER_LINES)
        + lambda_logs.platform_bytes_per_invocation(lambda_logs.JSON) * events.publisher.invocations,
        "events": len(events.events),
        "alerts": len(events.alerts),
        "history_wcu": history_write_units([message.body for message in traffic.messages]),
        "check_passed": report.ok,
    }
    return {
        "settings": {"traffic": vars(DemoSettings().traffic), "memory_mb": memory_mb, "architecture": architecture},
        "run": run,
        "prices": costmodel.PRICES,
        "costs_per_million": costmodel.status_events_per_million(run, memory_mb, architecture),
    }


def text(measured: dict, markdown: bool = False) -> str:
    run, costs, settings = measured["run"], measured["costs_per_million"], measured["settings"]
    per = run["notifications"]
    facts = results.format_table(
        ["per notification", "value"],
        [
            ["stream records", f"{run['stream_records'] / per:.3f}"],
            ["status-change events", f"{run['events'] / per:.3f}"],
            ["publisher invocations", f"{run['publisher_invocations'] / per:.4f}"],
            ["publisher billed ms", f"{run['publisher_billed_ms'] / per:.2f}"],
            ["history write units (duplicates included)", f"{run['history_wcu'] / per:.3f}"],
        ],
        markdown,
    )
    names = ["publisher_requests", "publisher_duration", "publisher_logs", "eventbridge_events", "alerts",
             "status_events_total", "history_writes"]
    prices = results.format_table(
        ["Lambda requests", "Lambda GB-s", "Logs", "EventBridge events", "alerts (SNS)", "events total",
         "history writes"],
        [[f"{costs[name]:.3f}" for name in names]],
        markdown,
    )
    return "\n\n".join([
        f"The demo's traffic ({run['notifications']} notifications, {run['duplicates']} duplicates, reordered); "
        f"publisher at {settings['memory_mb']} MB {settings['architecture']}:",
        facts,
        "USD per million notifications, added to the pipeline's:",
        prices,
    ])


def targets(measured: dict) -> list[results.Target]:
    run = measured["run"]
    return [results.Target(
        "status-change events: exactly one per stored status change (the demo's check)",
        run["check_passed"],
        f"{run['events']} events for {run['notifications']} notifications",
    )]


def add_arguments(parser) -> None:
    """No options: the demo's traffic, so the figures match `make demo`'s."""


def measure_from(args) -> dict:
    return measure()


if __name__ == "__main__":
    results.run_alone("status_events", sys.modules[__name__])
