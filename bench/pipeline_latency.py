"""The local pipeline end to end: send-to-event latency, and the publisher's events per second.

The demo's pipeline (local_pipeline: DynamoDB Local with its streams, moto's SQS and
EventBridge, the real processor and publisher behind local pollers, on the template's
settings and the local time scale) gets generated clean traffic at a steady pace. Every
status-change event reaches the bus's capture queue; its latency is from the moment its
notification was sent to the moment a poller of that queue received it (so it holds the
batching window and both pollers' waits, as on AWS it would hold the event source's).
Beside it, from the same run: the publisher's events per handler-second (moto's
EventBridge answers on the same 2 cores: an upper bound for PutEvents to AWS) and the
processor's notifications per handler-second, the rate the publisher has to keep up with.

    .venv/bin/python -m bench.pipeline_latency [--jobs 2 --messages-per-second 20]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import threading
import time

from bench import results, throughput
from bench.deployment import Deployment
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.pipeline import LocalPipeline
from notification_processor.identity import notification_id
from notification_processor.notifications import Notification, parse_record

JOBS = 2
TASKS_PER_JOB = 20
MESSAGES_PER_SECOND = 20
SEND_BATCH = 10  # SendMessageBatch's most
# Generous bounds on a loaded machine: processing, publishing, and a quiet bus at the end.
DRAIN_TIMEOUT_SECONDS = 180
QUIET_SECONDS = 3


class TimedHandler:
    """A handler's summed wall time over its invocations (thread-safe: pollers run at once)."""

    def __init__(self, handle):
        self._handle = handle
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.invocations = 0

    def __call__(self, event, context=None):
        started = time.perf_counter()
        try:
            return self._handle(event, context)
        finally:
            with self._lock:
                self.seconds += time.perf_counter() - started
                self.invocations += 1


class EventArrivals:
    """Polls the capture queue in a thread: when each event id first arrived (monotonic)."""

    def __init__(self, sqs, queue_url: str):
        self._sqs, self._queue_url = sqs, queue_url
        self.arrived: dict[str, float] = {}
        self.last_arrival = time.monotonic()
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="event-arrivals", daemon=True)

    def __enter__(self) -> EventArrivals:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self.error is not None and exc_info[0] is None:
            raise RuntimeError(f"polling the capture queue failed: {self.error!r}") from self.error

    def _poll(self) -> None:
        try:
            self._receive_until_stopped()
        except Exception as error:  # reported on exit, in the measuring thread
            self.error = error

    def _receive_until_stopped(self) -> None:
        while not self._stop.is_set():
            messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                                 WaitTimeSeconds=1).get("Messages", [])
            now = time.monotonic()
            for message in messages:
                self.arrived.setdefault(json.loads(message["Body"])["detail"]["eventId"], now)
                self.last_arrival = now
            if messages:
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                    {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                    for number, message in enumerate(messages)])


def event_id(body: str) -> str | None:
    """The eventId a notification's status change is published with (its stored item's id)."""
    received = str(int(time.time() * 1000))  # a Timestamp far after SQS's SentTimestamp would be refused
    notification = parse_record({"messageId": "bench", "body": body, "attributes": {"SentTimestamp": received}})
    return notification_id(notification.item) if isinstance(notification, Notification) else None


def _queue_empty(sqs, queue_url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    found = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(found.get(name, 0)) for name in names) == 0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(jobs: int = JOBS, messages_per_second: int = MESSAGES_PER_SECOND) -> dict:
    spec = Deployment.synthesized().spec
    if spec.status_events is None:
        raise RuntimeError("the template has no status-change events: nothing to measure")
    traffic = generate(TrafficSettings(seed=throughput.SEED, jobs=jobs, tasks_per_job=TASKS_PER_JOB))
    bodies = [message.body for message in traffic.messages]
    with LocalPipeline(spec) as pipeline, contextlib.redirect_stdout(io.StringIO()):  # the handlers' log lines
        sqs = pipeline.sqs.client()
        queue_url = pipeline.resources.queue_url
        processor = TimedHandler(pipeline.processor().handle)
        publisher = TimedHandler(pipeline.publisher().handle)
        sent_at: dict[str, float] = {}
        with (EventArrivals(sqs, pipeline.resources.status_events.events_queue_url) as arrivals,
              pipeline.publishing(publisher) as stream_source, pipeline.processing(processor)):
            started = time.monotonic()
            for first in range(0, len(bodies), SEND_BATCH):
                chunk = bodies[first:first + SEND_BATCH]
                # The pace is the workload: a farm's steady trickle, not one burst.
                time.sleep(max(0.0, started + first / messages_per_second - time.monotonic()))
                moment = time.monotonic()
                sqs.send_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(number), "MessageBody": body} for number, body in enumerate(chunk)])
                for body in chunk:
                    sent_at.setdefault(event_id(body) or "", moment)
            sending_seconds = time.monotonic() - started
            deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
            while not _queue_empty(sqs, queue_url) and time.monotonic() < deadline:
                time.sleep(0.2)
            drained = time.monotonic()
            if not stream_source.wait_until_idle(drained, max(1.0, deadline - drained)):
                raise RuntimeError("the publisher's stream pollers did not catch up")
            while time.monotonic() - arrivals.last_arrival < QUIET_SECONDS and time.monotonic() < deadline:
                time.sleep(0.2)
    latencies = [arrived - sent_at[event] for event, arrived in arrivals.arrived.items() if event in sent_at]
    if not latencies:
        raise RuntimeError("no status-change event reached the bus")
    return {
        "settings": {"jobs": jobs, "tasks_per_job": TASKS_PER_JOB, "seed": throughput.SEED,
                     "messages_per_second": messages_per_second, "visibility_timeout": pipeline.visibility_timeout,
                     "batching_window_s": pipeline.batching_window},
        "messages": len(bodies),
        "sending_seconds": sending_seconds,
        "events": len(latencies),
        "latency_p50_s": statistics.median(latencies),
        "latency_p99_s": _percentile(latencies, 0.99),
        "latency_max_s": max(latencies),
        "publisher_events_per_handler_second": len(arrivals.arrived) / publisher.seconds,
        "publisher_invocations": publisher.invocations,
        "processor_notifications_per_handler_second": traffic.notifications / processor.seconds,
        "processor_invocations": processor.invocations,
    }


def text(measured: dict, markdown: bool = False) -> str:
    settings = measured["settings"]
    rows = [
        ["send-to-event latency p50 / p99 / max",
         f"{measured['latency_p50_s']:.2f} / {measured['latency_p99_s']:.2f} / {measured['latency_max_s']:.2f} s",
         f"batching window {settings['batching_window_s']:.2f} s (scaled)"],
        ["publisher: events per handler-second", f"{measured['publisher_events_per_handler_second']:.0f}",
         f"processor: {measured['processor_notifications_per_handler_second']:.0f} notifications per handler-second"],
    ]
    return (f"The local pipeline, {measured['messages']} messages of {settings['jobs']} jobs sent at "
            f"{settings['messages_per_second']}/s, {measured['events']} status-change events:\n\n"
            + results.format_table(["figure", "measured", "beside it"], rows, markdown))


def targets(measured: dict) -> list[results.Target]:
    """None of the issue's: the figures are reported beside the rates they depend on."""
    return []


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pipeline-jobs", type=int, default=JOBS, help=f"jobs of the paced traffic (default {JOBS})")
    parser.add_argument("--messages-per-second", type=int, default=MESSAGES_PER_SECOND,
                        help=f"the sending pace (default {MESSAGES_PER_SECOND})")


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.pipeline_jobs, args.messages_per_second)


if __name__ == "__main__":
    results.run_alone("pipeline_latency", sys.modules[__name__])
