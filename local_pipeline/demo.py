"""`deadline-sqs demo`: the synthesized stack on local engines, fed a generated farm, checked.

Starts DynamoDB Local and local SQS, creates the template's queues and tables,
sends a farm's traffic (duplicates, reordering and bad records included), runs the
real processor (configured from the template's environment, as lambda_function.main is) behind local pollers until
the queue is empty, then compares the tables with the generator's ground truth and
the DLQ with the bad records. With status-change events in the template, the real
publisher runs behind stream pollers on the tables' streams at the same time, and its
events (and the job alerts) are checked as local_pipeline.event_check says. With failing
workers, the real check runs behind a poller on the history's stream, and its events and
alert lines are checked against the generator's ground truth.
Everything it started is stopped on the way out, whatever happens.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from contextlib import ExitStack, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from deadline_sqs import CommandError
from deadline_sqs.dead_letters import DeadLetter, peek_dead_letters
from deadline_sqs.reports.results import ReportResult, formatted
from deadline_sqs.sending import queue_depth, send_bodies
from farm_health import WORKER_FAILING_TYPE
from farm_health.monitor import JOBS_VARIABLE, MINUTES_VARIABLE
from local_pipeline.archive import archive_history
from local_pipeline.delivery_check import DeliveryReport, artist_problems, chat_problems, opted_out_count
from local_pipeline.event_check import (
    PublishedEvent,
    alert_problems,
    alerted_statuses,
    event_problems,
    published_events,
    worker_event_problems,
)
from local_pipeline.event_source import SqsEventSource
from local_pipeline.generator import MALFORMED_KINDS, GroundTruth, Traffic, TrafficSettings, generate, worker_alerts
from local_pipeline.pipeline import LocalPipeline, destination_rule, drain
from local_pipeline.processor_output import ProcessorOutput
from local_pipeline.report_check import demo_reports, expected_from, report_problems
from local_pipeline.spec import PipelineSpec
from local_pipeline.stream_source import StreamEventSource, StreamStats
from local_pipeline.verify import mismatches, status_counts, stored_state
from local_pipeline.webhooks import WebhookReport, webhook_lines, webhook_reports
from notification_processor.telemetry import METRIC_NAMES

# Seed 3: the failing worker is the only one whose failures span 3 jobs within 30 minutes.
DEMO_TRAFFIC = TrafficSettings(
    seed=3, jobs=20, tasks_per_job=50, duplicate_rate=0.3, reorder_window=200, malformed_per_kind=1, failing_worker=True
)
# Seconds allowed for processing, beyond the time a bad message needs to reach the DLQ (receives x visibility).
PROCESSING_SECONDS = 300

SHOWN_ALERTS = 2  # the summary lists the first alerts; the count covers all of them
SHOWN_PROBLEMS = 20
SHOWN_REPORT_ROWS = 8  # of each report; the check compares every row


@dataclass(frozen=True)
class DemoSettings:
    traffic: TrafficSettings = DEMO_TRAFFIC
    visibility_timeout: int | None = None  # default: measured (LocalPipeline)
    pollers: int | None = None  # default: LocalPipeline's
    timeout: float | None = None  # for processing, in seconds; default: PROCESSING_SECONDS beyond the DLQ's time
    progress: bool = True
    archive: Path | None = None  # where the local archive goes (with a history); None: a temporary folder


@dataclass
class StatusEventsReport:
    events: list[PublishedEvent]
    alerts: list[str]  # the alert rules' messages
    alerted_statuses: set[str]
    failures: int  # messages in the failure queue
    publisher: StreamStats


@dataclass
class FarmHealthReport:
    events: list[dict]  # the failing-worker events' details
    alerts: list[str]  # their alert lines
    expected: Counter  # per worker, from the ground truth
    failures: int  # messages in its failure queue
    check: StreamStats


@dataclass
class ReportsReport:
    archived: int  # notifications written to the local archive
    folder: Path | None  # None: a temporary folder, removed
    results: dict[str, ReportResult]


@dataclass
class DemoReport:
    traffic: Traffic
    stored: GroundTruth
    dead_letters: list[DeadLetter]
    processor: ProcessorOutput
    problems: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    status_events: StatusEventsReport | None = None  # None: the template has none
    farm_health: FarmHealthReport | None = None  # None: no failing-worker check in the template
    reports: ReportsReport | None = None  # None: the template has no history to archive
    deliveries: DeliveryReport | None = None  # None: the template has no sender
    webhooks: list[WebhookReport] = field(default_factory=list)  # none: the template has no webhook

    @property
    def ok(self) -> bool:
        return not self.problems


class DemoError(CommandError):
    """The demo could not run to the end (as opposed to ending with wrong results)."""


def run_demo(spec: PipelineSpec, settings: DemoSettings, say=print) -> DemoReport:
    started = time.monotonic()
    seconds = {}
    traffic = generate(settings.traffic)
    pipeline = LocalPipeline(spec, settings.visibility_timeout, settings.pollers)
    with pipeline:
        resources = pipeline.resources
        seconds["engines"] = time.monotonic() - started
        say(pipeline.time_scale_line())
        timeout = settings.timeout or PROCESSING_SECONDS + spec.max_receive_count * resources.visibility_timeout
        say(
            f"Local stack: queue {spec.queue.name} (DLQ after {spec.max_receive_count} receives), "
            f"tables {' and '.join(resources.tables.values())}; "
            f"event source: batch size {spec.batch_size}, {pipeline.pollers} concurrent pollers"
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
        publisher: StreamEventSource | None = None
        checker: StreamEventSource | None = None
        with ExitStack() as running:
            running.enter_context(redirect_stdout(output))
            if resources.status_events:
                publisher = running.enter_context(pipeline.publishing())
            if resources.farm_health:
                checker = running.enter_context(pipeline.checking_workers())
            sender = running.enter_context(pipeline.delivering()) if resources.deliveries else None
            source = running.enter_context(pipeline.processing())
            bar = running.enter_context(
                tqdm(total=len(bodies), desc="processing", unit="msg", disable=not settings.progress)
            )
            _wait_until_drained(sqs, resources.queue_url, bar, timeout, source)
            if publisher and not publisher.wait_until_idle(time.monotonic(), timeout):
                error = publisher.stats.last_error
                raise DemoError(f"the publisher's stream pollers did not catch up{f': {error!r}' if error else ''}")
            if checker and not checker.wait_until_idle(time.monotonic(), timeout):
                error = checker.stats.last_error
                raise DemoError(f"the failing-worker check's poller did not catch up{f': {error!r}' if error else ''}")
            if sender and resources.deliveries:
                _wait_until_empty(sqs, resources.deliveries.queue_url, timeout, sender, "DeliveryQueue")
            if pipeline.webhooks and not pipeline.webhooks.wait_until_delivered(timeout):
                raise DemoError(f"the API destinations' stand-in did not post every event within {timeout:.0f} s")
        seconds["process"] = time.monotonic() - mark

        mark = time.monotonic()
        dead_letters = peek_dead_letters(sqs, resources.dead_letter_queue_url)
        stored = stored_state(dynamodb, resources.tables)
        problems = mismatches(traffic.truth, stored) + dead_letter_problems(traffic, dead_letters)
        events_report = farm_report = delivery_report = None
        webhooks: list[WebhookReport] = []
        if publisher and resources.status_events and spec.status_events:
            local = resources.status_events
            events = published_events(drain(sqs, local.events_queue_url))
            alerts = drain(sqs, local.alerts_queue_url)
            failures = len(drain(sqs, local.failure_queue_url))
            rules = spec.status_events.alert_rules
            status_changes = [event for event in events if event.detail_type != WORKER_FAILING_TYPE]
            job_alerts = [line for line in alerts if "Deadline worker " not in line]
            events_report = StatusEventsReport(status_changes, job_alerts, alerted_statuses(rules), failures, publisher.stats)
            problems += event_problems(events, traffic, stored) + alert_problems(alerts, events, rules)
            problems += [f"{failures} batches the publisher gave up on, in the failure queue"] if failures else []
            if checker and resources.farm_health and spec.farm_health:
                farm_report = _farm_health_report(pipeline, traffic, events, alerts, checker.stats)
                rule = spec.farm_health.environment
                problems += worker_event_problems(events, traffic, int(rule[JOBS_VARIABLE]), int(rule[MINUTES_VARIABLE]))
                problems += [f"{farm_report.failures} batches the failing-worker check gave up on"] * bool(farm_report.failures)
            if resources.deliveries and spec.deliveries:
                delivery_report, delivery_problems = _check_deliveries(sqs, resources.deliveries, spec, events)
                problems += delivery_problems
            if pipeline.webhooks:
                webhooks = webhook_reports(spec.webhooks, events, pipeline.webhooks.receiver)
                problems += [problem for report in webhooks for problem in report.problems]
        reports = None
        if resources.history_table:
            reports, differences = _archive_and_report(pipeline, traffic, settings.archive)
            problems += differences
        seconds["check"] = time.monotonic() - mark
    seconds["total"] = time.monotonic() - started
    return DemoReport(
        traffic, stored, dead_letters, output, problems, seconds, events_report, farm_health=farm_report,
        reports=reports, deliveries=delivery_report, webhooks=webhooks,
    )


def _farm_health_report(pipeline: LocalPipeline, traffic: Traffic, events, alerts, stats) -> FarmHealthReport:
    rule = pipeline.spec.farm_health.environment
    local = pipeline.resources.farm_health
    return FarmHealthReport(
        events=[event.detail for event in events if event.detail_type == WORKER_FAILING_TYPE],
        alerts=[line for line in alerts if "Deadline worker " in line],
        expected=worker_alerts(traffic.failures, int(rule[JOBS_VARIABLE]), int(rule[MINUTES_VARIABLE])),
        failures=len(drain(pipeline.sqs.client(), local.failure_queue_url)),
        check=stats,
    )


def _archive_and_report(pipeline: LocalPipeline, traffic: Traffic, folder: Path | None) -> tuple[ReportsReport, list[str]]:
    """The history written as the local archive, the demo's reports run on it, and how they differ from the traffic."""
    with ExitStack() as scratch:
        target = folder or Path(scratch.enter_context(tempfile.TemporaryDirectory())) / "archive"
        archived = archive_history(pipeline.dynamodb.client(), pipeline.resources.history_table, target)
        expected = expected_from(traffic)
        results = demo_reports(target, expected.since)
    return ReportsReport(archived, folder, results), report_problems(results, expected)


def _check_deliveries(sqs, local, spec: PipelineSpec, events: list[PublishedEvent]) -> tuple[DeliveryReport, list[str]]:
    """What each artist's and chat channel's stand-in queue received, against the validated events."""
    artists = {user: drain(sqs, url) for user, url in local.artist_queues.items()}
    chats = {channel: drain(sqs, url) for channel, url in local.chat_queues.items()}
    dead_letters = len(drain(sqs, local.dead_letter_queue_url))
    by_channel = {channel: destination_rule(spec, channel) for channel in chats}
    problems = artist_problems(artists, events, local.statuses) + chat_problems(chats, events, by_channel)
    problems += [f"{dead_letters} deliveries in the delivery dead-letter queue"] if dead_letters else []
    report = DeliveryReport(
        {user: len(bodies) for user, bodies in artists.items()},
        opted_out_count(events, local.statuses),
        {channel: len(bodies) for channel, bodies in chats.items()},
        dead_letters,
    )
    return report, problems


def _wait_until_empty(sqs, queue_url: str, timeout: float, source: SqsEventSource, name: str) -> None:
    """Until the queue holds nothing, visible or in flight."""
    deadline = time.monotonic() + timeout
    while queue_depth(sqs, queue_url):
        if time.monotonic() > deadline:
            errors = f"; pollers' last error: {source.poller_errors[-1]!r}" if source.poller_errors else ""
            raise DemoError(f"{name} still holds messages after {timeout:.0f} s{errors}")
        time.sleep(0.2)


def _traffic_line(settings: TrafficSettings, traffic: Traffic) -> str:
    return (
        f"Traffic (seed {settings.seed}): {len(traffic.truth.jobs)} jobs, {len(traffic.truth.tasks)} tasks, "
        f"{traffic.notifications} notifications + {traffic.duplicates} duplicates + "
        f"{len(traffic.malformed)} malformed = {len(traffic.messages)} messages, "
        f"reordered within {settings.reorder_window} positions"
    )


def _wait_until_drained(sqs, queue_url: str, bar, timeout: float, source: SqsEventSource) -> None:
    """Until no message is left in the queue, visible or in flight: each was deleted or dead-lettered."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = queue_depth(sqs, queue_url)
        # SQS's counts are approximate (moto's too): the bar never goes back, nor past its total.
        done = min(max(bar.total - remaining, 0), bar.total)
        bar.update(max(done - bar.n, 0))
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
        + ", ".join(f"{name.lower()} {metrics[name]}" for name in METRIC_NAMES.values()),
        f"  dropped: {metrics[METRIC_NAMES['duplicate']]} duplicates and {metrics[METRIC_NAMES['stale']]} stale notifications "
        "(older than what was already stored or in the same batch)",
    ]
    errors = report.processor.write_errors
    if errors:
        # Reported so a retry is not read as a loss: each failed write's message stays on the queue.
        outcome = (
            "each retried from the queue and stored, so nothing was lost (the check below compares every item)"
            if report.ok
            else "each left on the queue for another try"
        )
        lines.append(
            f"  failed writes: {sum(errors.values())}, {outcome}; most often: "
            f"{_shorten(errors.most_common(1)[0][0], 60)} (on a busy machine, a longer --visibility-timeout "
            "gives the handler more time)"
        )
    lines.append(f"Dead-letter queue: {len(report.dead_letters)} messages")
    kinds = {message.body: message.invalid for message in report.traffic.malformed}
    width = max(map(len, MALFORMED_KINDS))
    for letter in sorted(report.dead_letters, key=lambda letter: kinds.get(letter.body) or ""):
        kind = kinds.get(letter.body, "VALID")
        lines.append(f"  {kind:<{width}}  {_shorten(letter.reason, 100)}")
    if report.status_events:
        lines += _status_events_lines(report.status_events)
    if report.farm_health:
        lines += _farm_health_lines(report.farm_health)
    if report.reports:
        lines += _reports_lines(report.reports)
    if report.deliveries:
        lines += _deliveries_lines(report.deliveries)
    if report.webhooks:
        lines += webhook_lines(report.webhooks)
    truth = report.traffic.truth
    if report.ok:
        events = report.status_events
        lines.append(
            f"Check: PASS - all {len(truth.jobs)} jobs and {len(truth.tasks)} tasks hold their newest notification; "
            f"the DLQ holds exactly the {len(report.traffic.malformed)} malformed messages"
            + (
                f"; {len(events.events)} status-change events, exactly one per change of a stored status, "
                f"and {len(events.alerts)} alerts"
                if events
                else ""
            )
            + (
                f"; {len(report.farm_health.events)} failing-worker events, as the ground truth says"
                if report.farm_health
                else ""
            )
            + (
                f"; the reports match the traffic ({', '.join(report.reports.results)}, from "
                f"{report.reports.archived} archived notifications)"
                if report.reports
                else ""
            )
            + (
                f"; each artist got exactly their jobs' changes once ({sum(report.deliveries.artists.values())} "
                f"messages, {report.deliveries.opted_out} opted out) and each chat channel what its filters let through"
                if report.deliveries
                else ""
            )
            + (
                f"; each of the {len(report.webhooks)} webhooks got one payload in its format per change its rule "
                "matches"
                if report.webhooks
                else ""
            )
        )
    else:
        lines.append(f"Check: FAIL - {len(report.problems)} problems:")
        lines += [f"  {problem}" for problem in report.problems[:SHOWN_PROBLEMS]]
        if len(report.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(report.problems) - SHOWN_PROBLEMS} more")
    timings = report.seconds
    lines.append(
        f"Time: {timings['total']:.1f} s (engines, warm-up and stack {timings['engines']:.1f} s, send {timings['send']:.1f} s, "
        f"process {timings['process']:.1f} s, check {timings['check']:.1f} s)"
    )
    return "\n".join(lines)


def _status_events_lines(report: StatusEventsReport) -> list[str]:
    stats = report.publisher
    by_type = Counter(event.detail_type for event in report.events)
    lines = [
        f"Status-change events published: {len(report.events)} "
        f"(the publisher read {stats.records} stream records in {stats.invocations} invocations)"
    ]
    for detail_type, count in sorted(by_type.items()):
        statuses = Counter(event.detail.get("status") for event in report.events if event.detail_type == detail_type)
        lines.append(f"  {detail_type} ({count}): {_counts(statuses)}")
    lines.append(
        f"Job alerts ({' or '.join(sorted(report.alerted_statuses)) or 'none'}; locally a queue stands in "
        f"for the alarm topic): {len(report.alerts)}"
    )
    lines += [f"  {_shorten(alert, 150)}" for alert in report.alerts[:SHOWN_ALERTS]]
    if len(report.alerts) > SHOWN_ALERTS:
        lines.append(f"  ... and {len(report.alerts) - SHOWN_ALERTS} more")
    lines.append(f"Publisher failure queue: {report.failures} messages")
    return lines


def _farm_health_lines(report: FarmHealthReport) -> list[str]:
    lines = [
        f"Failing-worker events ({WORKER_FAILING_TYPE}): {len(report.events)}, the ground truth expects "
        f"{sum(report.expected.values())} (the check was handed {report.check.records} history stream records in "
        f"{report.check.invocations} invocations)"
    ]
    lines += [f"  event: {_shorten(detail.get('summary', ''), 140)} [eventId {detail.get('eventId')}]" for detail in report.events]
    lines.append(f"Failing-worker alerts (locally a queue stands in for the alarm topic): {len(report.alerts)}")
    lines += [f"  {_shorten(alert, 150)}" for alert in report.alerts[:SHOWN_ALERTS]]
    lines.append(f"Failing-worker check failure queue: {report.failures} messages")
    return lines


def _reports_lines(report: ReportsReport) -> list[str]:
    where = f"in {report.folder}" if report.folder else "in a temporary folder (--archive keeps it)"
    lines = [f"Local archive: {report.archived} notifications as Parquet (kind=/dt=/hour= partitions) {where}"]
    for name, result in report.results.items():
        shown = ReportResult(result.columns, result.rows[:SHOWN_REPORT_ROWS])
        lines += [f"Report {name} (all {len(result.rows)} rows checked):"]
        lines += [f"  {line}" for line in formatted(shown, "table").splitlines()[:-1]]  # without its row count
        if len(result.rows) > SHOWN_REPORT_ROWS:
            lines.append(f"  ... and {len(result.rows) - SHOWN_REPORT_ROWS} more (deadline-sqs report {name} --archive ...)")
    return lines


def _deliveries_lines(report: DeliveryReport) -> list[str]:
    artists = ", ".join(f"{user} {count}" for user, count in sorted(report.artists.items()))
    chats = ", ".join(f"{channel} {count}" for channel, count in sorted(report.chats.items()))
    return [
        f"Job notifications per artist (locally, each artist's queue has the filter policy `deadline-sqs subscribe` "
        f"sets): {artists or 'none'}; {report.opted_out} changes not sent: their jobs opted out",
        f"Chat channels (locally, a queue stands in for Amazon Q Developer): {chats or 'none'}",
        f"Delivery dead-letter queue: {report.dead_letters} messages",
    ]


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
