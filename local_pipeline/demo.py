"""`deadline-sqs demo`: the synthesized stack on local engines, fed a generated farm, checked.

Starts DynamoDB Local and local SQS, creates the template's queues and tables,
sends a farm's traffic (duplicates, reordering and bad records included), runs the
real handler (lambda_src's lambda_function.main) behind several local pollers until
the queue is empty, then compares the tables with the generator's ground truth and
the DLQ with the bad records. Everything it started is stopped on the way out,
whatever happens.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field

from tqdm import tqdm

from local_pipeline.dead_letters import DeadLetter, peek_dead_letters
from local_pipeline.event_source import SqsEventSource
from local_pipeline.generator import MALFORMED_KINDS, GroundTruth, Traffic, TrafficSettings, generate
from local_pipeline.local_stack import DEFAULT_LOCAL_VISIBILITY_TIMEOUT, LocalPipeline, local_pipeline, processor_environment, processor_handler
from local_pipeline.processor_output import ProcessorOutput
from local_pipeline.sender import send_bodies
from local_pipeline.spec import PipelineSpec
from local_pipeline.verify import mismatches, status_counts, stored_state

DEMO_TRAFFIC = TrafficSettings(
    seed=1, jobs=20, tasks_per_job=50, duplicate_rate=0.3, reorder_window=200, malformed_per_kind=1
)


@dataclass(frozen=True)
class DemoSettings:
    traffic: TrafficSettings = DEMO_TRAFFIC
    visibility_timeout: int = DEFAULT_LOCAL_VISIBILITY_TIMEOUT
    pollers: int | None = None  # default: poller_count
    timeout: float = 300  # for processing, in seconds
    progress: bool = True


@dataclass
class DemoReport:
    traffic: Traffic
    stored: GroundTruth
    dead_letters: list[DeadLetter]
    processor: ProcessorOutput
    problems: list[str]
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


class DemoError(RuntimeError):
    """The demo could not run to the end (as opposed to ending with wrong results)."""


# Locally DynamoDB Local, not the number of pollers, bounds throughput: past a few
# concurrent invocations each batch only takes longer, and every batch must finish
# within the (scaled) visibility timeout.
LOCAL_POLLERS = 3


def poller_count(spec: PipelineSpec, requested: int | None) -> int:
    """Concurrent local invocations: as requested, else the template's maximum concurrency up to LOCAL_POLLERS."""
    return requested or min(spec.max_concurrency or LOCAL_POLLERS, LOCAL_POLLERS)


def scaled_batching_window(spec: PipelineSpec, visibility_timeout: int) -> float:
    """The template's batching window, shrunk by the same factor as the visibility timeout."""
    return spec.max_batching_window_seconds * visibility_timeout / spec.queue.visibility_timeout


def time_scale_line(spec: PipelineSpec, visibility_timeout: int) -> str:
    window = scaled_batching_window(spec, visibility_timeout)
    return (
        f"Time scale: visibility timeout {spec.queue.visibility_timeout} s -> {visibility_timeout} s, "
        f"batching window {spec.max_batching_window_seconds} s -> {window:.2f} s "
        f"(a bad message reaches the DLQ after {spec.max_receive_count} receives in seconds, not minutes)"
    )


@contextmanager
def local_processor(spec: PipelineSpec, pipeline: LocalPipeline, pollers: int) -> Iterator[SqsEventSource]:
    """The real handler behind `pollers` local pollers, with the template's event source settings."""
    resources = pipeline.resources
    window = scaled_batching_window(spec, resources.visibility_timeout)
    environment = processor_environment(spec, resources, pipeline.dynamodb.endpoint_url)
    with processor_handler(environment) as handler:
        source = SqsEventSource(
            pipeline.sqs.client(),
            resources.queue_url,
            resources.queue_arn,
            handler,
            batch_size=spec.batch_size,
            batching_window=window,
            pollers=pollers,
            report_batch_item_failures=spec.report_batch_item_failures,
            # A handler must finish before its first messages become visible again.
            timeout_seconds=resources.visibility_timeout - window,
        )
        with source:
            yield source


def run_demo(spec: PipelineSpec, settings: DemoSettings, say=print) -> DemoReport:
    started = time.monotonic()
    seconds = {}
    pollers = poller_count(spec, settings.pollers)
    say(time_scale_line(spec, settings.visibility_timeout))
    traffic = generate(settings.traffic)
    with local_pipeline(spec, settings.visibility_timeout) as pipeline:
        resources = pipeline.resources
        seconds["engines"] = time.monotonic() - started
        say(
            f"Local stack: queue {spec.queue.name} (DLQ after {spec.max_receive_count} receives), "
            f"tables {resources.job_table} and {resources.task_table}; "
            f"event source: batch size {spec.batch_size}, {pollers} concurrent pollers"
        )
        say(_traffic_line(settings.traffic, traffic))
        sqs, dynamodb = pipeline.sqs.client(), pipeline.dynamodb.client()
        bodies = [message.body for message in traffic.messages]
        mark = time.monotonic()
        with tqdm(total=len(bodies), desc="sending   ", unit="msg", disable=not settings.progress) as bar:
            sent = send_bodies(sqs, resources.queue_url, bodies, bar.update)
        if sent.failures:
            raise DemoError(f"{len(sent.failures)} messages could not be sent; first: {sent.failures[0]}")
        seconds["send"] = time.monotonic() - mark

        mark = time.monotonic()
        output = ProcessorOutput()
        with redirect_stdout(output), local_processor(spec, pipeline, pollers) as source:
            with tqdm(total=len(bodies), desc="processing", unit="msg", disable=not settings.progress) as bar:
                _wait_until_drained(sqs, resources.queue_url, bar, settings.timeout, source)
        seconds["process"] = time.monotonic() - mark

        mark = time.monotonic()
        dead_letters = peek_dead_letters(sqs, resources.dead_letter_queue_url)
        stored = stored_state(dynamodb, resources.job_table, resources.task_table)
        problems = mismatches(traffic.truth, stored) + dead_letter_problems(traffic, dead_letters)
        seconds["check"] = time.monotonic() - mark
    seconds["total"] = time.monotonic() - started
    return DemoReport(traffic, stored, dead_letters, output, problems, seconds)


def _traffic_line(settings: TrafficSettings, traffic: Traffic) -> str:
    return (
        f"Traffic (seed {settings.seed}): {len(traffic.truth.jobs)} jobs, {len(traffic.truth.tasks)} tasks, "
        f"{traffic.notifications} notifications + {traffic.duplicates} duplicates + "
        f"{len(traffic.malformed)} malformed = {len(traffic.messages)} messages, "
        f"reordered within {settings.reorder_window} positions"
    )


def _wait_until_drained(sqs, queue_url: str, bar, timeout: float, source: SqsEventSource) -> None:
    """Until no message is left in the queue, visible or in flight: each was deleted or dead-lettered."""
    attributes = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    deadline = time.monotonic() + timeout
    while True:
        found = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=attributes)["Attributes"]
        remaining = sum(int(found.get(name, 0)) for name in attributes)
        bar.update(bar.total - remaining - bar.n)
        if remaining == 0:
            return
        if time.monotonic() > deadline:
            errors = f"; pollers' last error: {source.poller_errors[-1]!r}" if source.poller_errors else ""
            raise DemoError(f"{remaining} messages still in the queue after {timeout:.0f} s{errors}")
        time.sleep(0.2)


def dead_letter_problems(traffic: Traffic, dead_letters: list[DeadLetter]) -> list[str]:
    """The DLQ must hold every malformed message and nothing else."""
    expected = Counter(message.body for message in traffic.malformed)
    found = Counter(letter.body for letter in dead_letters)
    problems = [
        f"dead-lettered but valid: message {letter.message_id} ({letter.reason})"
        for letter in dead_letters
        if letter.body not in expected
    ]
    kinds = {message.body: message.invalid for message in traffic.malformed}
    problems += [f"malformed ({kinds[body]}) but not in the DLQ" for body in expected - found]
    return problems


def _counts(counter: Counter) -> str:
    return " | ".join(f"{status} {count}" for status, count in counter.most_common()) or "none"


def summary(report: DemoReport) -> str:
    """The readable end of the demo: what the tables hold, what the processor dropped, the DLQ, the verdict."""
    metrics = report.processor.metrics
    lines = [
        "",
        f"Jobs by status   ({len(report.stored.jobs)}): {_counts(status_counts(report.stored.jobs))}",
        f"Tasks by status  ({len(report.stored.tasks)}): {_counts(status_counts(report.stored.tasks))}",
        "Processor (its EMF metrics, per delivery): "
        + ", ".join(f"{name.lower()} {metrics[name]}" for name in ("Received", "Stored", "Duplicate", "Stale", "Invalid", "Failed")),
        f"  dropped: {metrics['Duplicate']} duplicates and {metrics['Stale']} stale notifications "
        "(older than what was already stored or in the same batch)",
    ]
    errors = report.processor.write_errors
    if errors:
        lines.append(
            f"  failed writes, left on the queue for another try: {sum(errors.values())} "
            f"(most often: {_shorten(errors.most_common(1)[0][0], 80)})"
        )
    lines.append(f"Dead-letter queue: {len(report.dead_letters)} messages")
    kinds = {message.body: message.invalid for message in report.traffic.malformed}
    width = max(map(len, MALFORMED_KINDS))
    for letter in sorted(report.dead_letters, key=lambda letter: kinds.get(letter.body) or ""):
        kind = kinds.get(letter.body, "VALID")
        lines.append(f"  {kind:<{width}}  {_shorten(letter.reason, 100)}")
    truth = report.traffic.truth
    if report.ok:
        lines.append(
            f"Check: PASS - all {len(truth.jobs)} jobs and {len(truth.tasks)} tasks hold their newest notification; "
            f"the DLQ holds exactly the {len(report.traffic.malformed)} malformed messages"
        )
    else:
        lines.append(f"Check: FAIL - {len(report.problems)} problems:")
        lines += [f"  {problem}" for problem in report.problems[:20]]
        if len(report.problems) > 20:
            lines.append(f"  ... and {len(report.problems) - 20} more")
    timings = report.seconds
    lines.append(
        f"Time: {timings['total']:.1f} s (engines and stack {timings['engines']:.1f} s, send {timings['send']:.1f} s, "
        f"process {timings['process']:.1f} s, check {timings['check']:.1f} s)"
    )
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
