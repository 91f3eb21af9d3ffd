"""`deadline-sqs verify`: prove each delivery path of a deployed (or the local) pipeline end to end.

One marked test job (smoke's, with a status the job alerts send on) goes through the pipeline:

- queue -> processor -> tables: its job and task items are stored;
- tables -> publisher -> bus: a temporary rule on the bus, targeting a temporary queue, receives
  its status-change event (carrying "test": true, the marker later rules leave out);
- job alert -> alarm topic: the temporary queue, subscribed to the topic, receives its alert
  (locally: the alert rules' stand-in queue does);
- alarm -> alarm topic, for each of the stack's alarms not already in ALARM: SetAlarmState with a
  reason saying it is a test, then the alarm's own action history (AWS's answer) and the
  temporary subscription show whether the notification reached the topic;
- with `dead_letters`: a bad message reaches the dead-letter queue.

What it makes (verify_resources) is removed however the run ends, and what an interrupted run
left (with its test items) is removed first.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO, TypeVar

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import needs
from deadline_sqs.deployment import Deployment
from deadline_sqs.notifications import JOB_EVENTS
from deadline_sqs.operations import delete_marked_job, marked_job_id, marked_job_notifications, store_marked_job
from deadline_sqs.sending import SQS_BATCH_ENTRIES
from deadline_sqs.verify_resources import (
    COMMAND,
    Clients,
    Temporaries,
    VerifyTarget,
    create_temporaries,
    each,
    find_leftovers,
    is_temporary,
    new_run_id,
    remove_leftovers,
    remove_temporaries,
    temporary_base,
    temporary_name,
)
from notification_processor.roles import JOB, TABLE_ROLES
from status_events.changes import SOURCE, TEST_FIELD, status_change_type

PASS, FAIL, SKIP, NOT_LOCAL, NOT_DEPLOYED = "PASS", "FAIL", "SKIP", "NOT CHECKED LOCALLY", "NOT DEPLOYED"
# Outcomes that leave the exit code at 0: passed, or a path this target does not have.
FINE = frozenset({PASS, NOT_LOCAL, NOT_DEPLOYED})

TEST_JOB_NAME = "TEST by deadline-sqs verify, please ignore"
ALARM_REASON = (
    "TEST by deadline-sqs verify, please ignore: set to ALARM to check that this alarm's notification "
    "arrives; the alarm returns to its real state at its next evaluation"
)
PROBE_TYPE = "deadline-sqs verify probe"
# Job statuses by the JOB_EVENTS key that sends them; the test job prefers to fail.
_JOB_EVENT_OF_STATUS = {status: event for event, (_, status, _) in JOB_EVENTS.items()}
PREFERRED_ALERT_STATUS = "Failed"
DLQ_MARGIN_SECONDS = 60
ALARM_NAMES_PER_REQUEST = 100  # DescribeAlarms' limit on AlarmNames
HOLD_SECONDS = 30  # how long a message that is not verify's stays hidden once read


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathResult:
    path: str  # e.g. "queue -> processor -> tables"
    outcome: str  # PASS, FAIL, SKIP, NOT_LOCAL, NOT_DEPLOYED
    seconds: float | None = None
    note: str = ""  # for a FAIL, the likely cause and its fix; otherwise why, or what was seen


OUTCOME_WIDTH = max(len(outcome) for outcome in (PASS, FAIL, SKIP, NOT_LOCAL, NOT_DEPLOYED))
PATH_WIDTH = 32  # the longest fixed path's name; an alarm's is longer


def result_line(result: PathResult) -> str:
    """The outcome, the seconds it took, the path, then its note."""
    took = f"{result.seconds:6.1f} s" if result.seconds is not None else " " * 8
    line = f"{result.outcome:<{OUTCOME_WIDTH}}  {took}  {result.path:<{PATH_WIDTH}}"
    return f"{line}  {result.note}" if result.note else line.rstrip()


def all_passed(results: list[PathResult]) -> bool:
    return all(result.outcome in FINE for result in results)


# --- who receives the test messages --------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    protocol: str
    endpoint: str  # shortened where it may identify a person or hold a secret


def masked(protocol: str, endpoint: str) -> str:
    """An endpoint as verify lists it: e-mail addresses and phone numbers partly hidden, URLs to their host."""
    if protocol in ("email", "email-json") and "@" in endpoint:
        local, domain = endpoint.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if protocol == "sms":
        return f"***{endpoint[-4:]}"
    if protocol in ("http", "https"):
        return re.sub(r"^(https?://[^/?#]+).*$", r"\1/...", endpoint)
    return endpoint


def recipients(sns, topic_arn: str, temporary_base: str) -> list[Recipient]:
    """The topic's confirmed subscriptions, except verify's own leftovers (removed before sending)."""
    found = []
    with needs(COMMAND, "sns:ListSubscriptionsByTopic", f"topic {topic_arn}"):
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for subscription in page["Subscriptions"]:
                if not subscription["SubscriptionArn"].startswith("arn:"):  # PendingConfirmation: receives nothing
                    continue
                if is_temporary(subscription["Endpoint"].rsplit(":", 1)[-1], temporary_base):
                    continue
                found.append(Recipient(subscription["Protocol"], masked(subscription["Protocol"], subscription["Endpoint"])))
    return found


def announcement(target: VerifyTarget, people: list[Recipient], dead_letters: bool, dlq_seconds: float | None) -> str:
    """What verify will send and to whom, printed before it sends anything."""
    if target.alarm_names is None:
        lines = ["The local pipeline: test messages reach only its engines (no alarm topic, no subscribers)."]
    else:
        lines = [f"Test messages of this run reach the confirmed subscriptions of the alarm topic {target.alarm_topic_arn}:"]
        lines += [f"  {person.protocol:<10} {person.endpoint}" for person in people] or ["  (none)"]
        lines.append(
            f"They receive the test job's alert, and an ALARM notification (reason: a test) from each of the "
            f"stack's {len(target.alarm_names)} alarms that is not in ALARM, then an OK one when it re-evaluates."
        )
    if dead_letters:
        lines.append(
            f"--dlq: a bad test message goes through the queue to the dead-letter queue, which takes about "
            f"{dlq_seconds:.0f} s (max_receive_count visibility timeouts)"
            + ("." if target.alarm_names is None else "; the dead-letter alarm then fires for real (its reason cannot "
               "say it is a test) and clears when the message has been removed.")
        )
    return "\n".join(lines)


def confirm(target: VerifyTarget, yes: bool, stdin: TextIO, stdout: TextIO) -> None:
    """Go on with --yes (or locally, where nobody receives anything), or when the person at the terminal
    says so; refuse without a terminal."""
    if yes or target.alarm_names is None:
        return
    if not stdin.isatty():
        raise CommandError("verify sends test messages to the people listed above: pass --yes to confirm without a terminal")
    stdout.write("Send them? [y/N] ")
    stdout.flush()
    if stdin.readline().strip().lower() not in ("y", "yes"):
        raise CommandError("not confirmed: nothing was sent")


# --- what arrives --------------------------------------------------------------------------


class Inbox:
    """The messages of one queue that `wanted(body)` picks, read and removed as they come.

    Others (the alert stand-in and the dead-letter queue may hold messages that are not
    verify's) stay hidden while verify reads on, so it gets past them, until `release()`.
    """

    def __init__(self, sqs, queue_url: str, wanted: Callable[[str], bool] = lambda body: True):
        self.sqs = sqs
        self.queue_url = queue_url
        self.wanted = wanted
        self.bodies: list[str] = []
        self._held: dict[str, str] = {}  # others' message id -> their latest receipt handle

    def check(self, wait_seconds: int = 1) -> None:
        with needs(COMMAND, "sqs:ReceiveMessage", f"queue {self.queue_url}"):
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=SQS_BATCH_ENTRIES,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=HOLD_SECONDS,
            ).get("Messages", [])
        mine = [message for message in messages if self.wanted(message["Body"])]
        self.bodies += [message["Body"] for message in mine]
        self._held |= {m["MessageId"]: m["ReceiptHandle"] for m in messages if not self.wanted(m["Body"])}
        if mine:
            with needs(COMMAND, "sqs:DeleteMessage", f"queue {self.queue_url}"):
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=_handles(mine))

    def release(self) -> None:
        """Make the others visible again (a handle whose hold has ended already is just refused)."""
        handles = list(self._held.values())
        self._held = {}
        for start in range(0, len(handles), SQS_BATCH_ENTRIES):
            entries = [
                {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for n, handle in enumerate(handles[start : start + SQS_BATCH_ENTRIES])
            ]
            with needs(COMMAND, "sqs:ChangeMessageVisibility", f"queue {self.queue_url}"):
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def json_bodies(self) -> list[dict]:
        found = []
        for body in self.bodies:
            try:
                value = json.loads(body)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
        return found

    def events(self) -> list[dict]:
        return [body for body in self.json_bodies() if "detail-type" in body]

    def notifications(self) -> list[str]:
        """The SNS messages received (the envelope's Message)."""
        return [body["Message"] for body in self.json_bodies() if body.get("Type") == "Notification"]


_Found = TypeVar("_Found")


def _handles(messages: list[dict]) -> list[dict]:
    return [{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(messages)]


def wait_for(found: Callable[[], _Found], inboxes: list[Inbox], deadline: float) -> _Found:
    """Read the inboxes (each read waits up to a second) until `found()` answers something true, or the
    deadline: its last answer."""
    while True:
        answer = found()
        if answer or time.monotonic() >= deadline:
            return answer
        for inbox in inboxes:
            inbox.check()


# --- the paths -----------------------------------------------------------------------------

QUEUE_TO_TABLES = "queue -> processor -> tables"
TABLES_TO_BUS = "tables -> publisher -> bus"
JOB_ALERT = "job alert -> alarm topic"
DEAD_LETTERS = "bad message -> dead-letter queue"


def alarm_path(alarm: str) -> str:
    return f"alarm {alarm} -> alarm topic"


@dataclass
class Run:
    """One verify run: the target, its clients, the test job, what arrived, the results so far."""

    clients: Clients
    target: VerifyTarget
    timeout: float  # per path
    job_id: str
    inbox: Inbox | None = None  # the temporary queue
    alert_inbox: Inbox | None = None  # locally, the alert rules' stand-in queue
    results: list[PathResult] = field(default_factory=list)
    out: TextIO | None = None

    def add(self, result: PathResult) -> None:
        self.results.append(result)
        if self.out:
            self.out.write(result_line(result) + "\n")
            self.out.flush()

    @property
    def inboxes(self) -> list[Inbox]:
        return [inbox for inbox in (self.inbox, self.alert_inbox) if inbox]


def prove_rule_delivers(run: Run) -> str:
    """Put a probe event on the bus for the temporary rule (never a status change, so no other rule
    of the stack matches it), and wait until the temporary queue has it: '' or what is wrong.

    EventBridge applies a new rule after a moment: without this, the test job's event could be missed.
    """
    events, bus = run.clients.events, run.target.bus_name
    with needs(COMMAND, "events:PutEvents", f"bus {bus}"):
        answer = events.put_events(Entries=[{
            "Source": SOURCE, "DetailType": PROBE_TYPE, "EventBusName": bus,
            "Detail": json.dumps({"jobId": run.job_id, TEST_FIELD: True}),
        }])  # fmt: skip
    if answer.get("FailedEntryCount"):
        return f"the bus refused verify's probe event: {answer['Entries'][0].get('ErrorMessage', '')}"
    if wait_for(lambda: _events_of(run, PROBE_TYPE), run.inboxes, time.monotonic() + run.timeout):
        return ""
    return (
        f"verify's own rule on the bus did not deliver a probe event to its queue within {run.timeout:.0f} s, "
        "so the path could not be checked: check the bus's PutEvents quota and run verify again"
    )


def confirm_subscription(run: Run, topic_arn: str) -> str:
    """Confirm the temporary subscription with the token SNS sent to the queue: its ARN, or '' if
    no token came (the job alert and alarm lines then say nothing arrived).

    SNS confirms a same-account SQS subscription by itself; this covers an account where it asks.
    """
    assert run.inbox is not None
    inbox = run.inbox

    def token() -> str:
        requests = [b for b in inbox.json_bodies() if b.get("Type") == "SubscriptionConfirmation" and b.get("TopicArn") == topic_arn]
        return requests[0]["Token"] if requests else ""

    found = wait_for(token, [inbox], time.monotonic() + run.timeout)
    if not found:
        return ""
    with needs(COMMAND, "sns:ConfirmSubscription", f"topic {topic_arn}"):
        return run.clients.sns.confirm_subscription(TopicArn=topic_arn, Token=found)["SubscriptionArn"]


def _events_of(run: Run, detail_type: str) -> list[dict]:
    assert run.inbox is not None
    return [e for e in run.inbox.events() if e["detail-type"] == detail_type and e["detail"].get("jobId") == run.job_id]


def check_queue_to_tables(run: Run, notifications: list[dict]) -> bool:
    started = time.monotonic()
    seen = store_marked_job(
        run.clients.sqs, run.clients.dynamodb, run.target.deployment, run.job_id, notifications, run.timeout, 0.25
    )
    missing = sorted(set(TABLE_ROLES) - set(seen))
    if not missing:
        run.add(PathResult(QUEUE_TO_TABLES, PASS, max(seen.values()), f"test job {run.job_id}"))
        return True
    run.add(PathResult(
        QUEUE_TO_TABLES, FAIL, time.monotonic() - started,
        f"the test {' and '.join(missing)} item was not stored within {run.timeout:.0f} s: check the processor's "
        "logs, that its event source mapping is enabled, and `deadline-sqs dlq`",
    ))  # fmt: skip
    return False


def check_tables_to_bus(run: Run, started: float, probe_problem: str) -> bool:
    if probe_problem:
        run.add(PathResult(TABLES_TO_BUS, FAIL, time.monotonic() - started, probe_problem))
        return False
    job_type = status_change_type(TABLE_ROLES[JOB])
    events = wait_for(lambda: _events_of(run, job_type), run.inboxes, started + run.timeout)
    seconds = time.monotonic() - started
    if not events:
        where = "is the publisher running in `deadline-sqs local`?" if run.target.alarm_names is None else (
            "check the publisher's logs, its stream mappings (enabled? the role's dynamodb:ListStreams) and the "
            "failure queue (StatusEventFailureQueueUrl)"
        )
        run.add(PathResult(TABLES_TO_BUS, FAIL, seconds, f"no status-change event of the test job within {run.timeout:.0f} s: {where}"))
        return False
    if events[0]["detail"].get(TEST_FIELD) is not True:
        run.add(PathResult(
            TABLES_TO_BUS, FAIL, seconds,
            f'the event lacks "{TEST_FIELD}": true, so rules cannot leave test jobs out: deploy this version of the publisher',
        ))  # fmt: skip
        return False
    run.add(PathResult(TABLES_TO_BUS, PASS, seconds, f"status {events[0]['detail'].get('status')}, marked as a test"))
    return True


def check_job_alert(run: Run, started: float, bus_passed: bool) -> None:
    def alerts() -> list[str]:
        if run.alert_inbox:
            return [body for body in run.alert_inbox.bodies if run.job_id in body]
        assert run.inbox is not None
        return [message for message in run.inbox.notifications() if run.job_id in message]

    found = wait_for(alerts, run.inboxes, started + run.timeout)
    seconds = time.monotonic() - started
    if found:
        where = "the alarm topic's local stand-in queue" if run.alert_inbox else "the temporary subscription"
        run.add(PathResult(JOB_ALERT, PASS, seconds, f"received by {where}"))
    elif not bus_passed:
        run.add(PathResult(JOB_ALERT, FAIL, seconds, f"no alert within {run.timeout:.0f} s; the event it comes from did not reach the bus either (above)"))
    elif run.alert_inbox:
        run.add(PathResult(
            JOB_ALERT, FAIL, seconds,
            f"the test job's event reached the bus but no alert reached the topic's stand-in queue within "
            f"{run.timeout:.0f} s: does the alert rule on the local bus still have its target?",
        ))  # fmt: skip
    else:
        run.add(PathResult(
            JOB_ALERT, FAIL, seconds,
            f"the test job's event reached the bus but no alert reached the topic within {run.timeout:.0f} s: check the "
            "alert rule's FailedInvocations metric and its dead-letter queue; the topic policy must let "
            "events.amazonaws.com publish for that rule, and the topic's key let EventBridge use it",
        ))  # fmt: skip


def check_alarms(run: Run) -> None:
    names = run.target.alarm_names or ()
    cloudwatch = run.clients.cloudwatch
    states: dict[str, str] = {}
    with needs(COMMAND, "cloudwatch:DescribeAlarms", f"the alarms of stack {run.target.name}"):
        for start in range(0, len(names), ALARM_NAMES_PER_REQUEST):
            chunk = list(names[start : start + ALARM_NAMES_PER_REQUEST])
            for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=chunk):
                states |= {alarm["AlarmName"]: alarm["StateValue"] for alarm in page["MetricAlarms"]}
    to_test = []
    for name in names:
        if states.get(name) == "ALARM":
            run.add(PathResult(alarm_path(name), SKIP, None, "already in ALARM: not forced to OK; run verify again when it is OK"))
        else:
            to_test.append(name)
    if not to_test:
        return
    started = time.monotonic()
    since = datetime.now(UTC) - timedelta(seconds=5)  # the local clock may be a little ahead of CloudWatch's
    for name in to_test:
        with needs(COMMAND, "cloudwatch:SetAlarmState", f"alarm {name}"):
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=ALARM_REASON)
    actions: dict[str, dict] = {}
    pending = set(to_test)

    def settled() -> bool:
        for name in sorted(pending - set(actions)):
            action = _first_action(cloudwatch, name, since, run.target.alarm_topic_arn)
            if action is not None:
                actions[name] = action
        return all(name in actions and (_failed(actions[name]) or name in _alarms_received(run)) for name in pending)

    wait_for(settled, run.inboxes, started + run.timeout)
    seconds = time.monotonic() - started
    received = _alarms_received(run)
    for name in to_test:
        action = actions.get(name)
        if action is None:
            note = (f"no action in the alarm's history within {run.timeout:.0f} s: are its actions enabled "
                    "(ActionsEnabled), and is the alarm topic among them?")
            run.add(PathResult(alarm_path(name), FAIL, seconds, note))
        elif _failed(action):
            run.add(PathResult(alarm_path(name), FAIL, seconds, alarm_failure_cause(_action_error(action))))
        elif name not in received:
            run.add(PathResult(alarm_path(name), FAIL, seconds,
                               f"the topic took the notification, but the test subscription had not received it within "
                               f"{run.timeout:.0f} s: check the topic's delivery status logs"))
        else:
            run.add(PathResult(alarm_path(name), PASS, seconds, "in its action history and received by the subscription"))


def _first_action(cloudwatch, name: str, since: datetime, topic_arn: str) -> dict | None:
    with needs(COMMAND, "cloudwatch:DescribeAlarmHistory", f"alarm {name}"):
        items = cloudwatch.describe_alarm_history(
            AlarmName=name, HistoryItemType="Action", StartDate=since, ScanBy="TimestampAscending", MaxRecords=10
        )["AlarmHistoryItems"]
    about_topic = [item for item in items if topic_arn in item.get("HistorySummary", "") + item.get("HistoryData", "")]
    return (about_topic or items or [None])[0]


def _action_data(action: dict) -> dict:
    try:
        data = json.loads(action.get("HistoryData") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _failed(action: dict) -> bool:
    state = _action_data(action).get("actionState")
    return state == "Failed" if state else action.get("HistorySummary", "").startswith("Failed")


def _action_error(action: dict) -> str:
    data = _action_data(action)
    return str(data.get("error") or action.get("HistorySummary", ""))


def alarm_failure_cause(error: str) -> str:
    """The likely cause and fix of a failed alarm action, then AWS's own words."""
    text = error.lower()
    if "sns:publish" in text and "not authorized" in text:
        cause = ("CloudWatch may not publish to the topic: the topic policy lacks cloudwatch.amazonaws.com "
                 "(deploy a version whose topic policy allows this stack's alarms)")
    elif "kms" in text:
        cause = ("CloudWatch may not use the topic's key: its key policy must let cloudwatch.amazonaws.com "
                 "kms:Decrypt and kms:GenerateDataKey (a topic under the AWS managed aws/sns key never works)")
    else:
        cause = "the alarm's action failed"
    return f'{cause}. AWS: "{error}"'


def _alarms_received(run: Run) -> set[str]:
    assert run.inbox is not None
    names = set()
    for message in run.inbox.notifications():
        try:
            alarm = json.loads(message)
        except ValueError:
            continue
        if isinstance(alarm, dict) and alarm.get("NewStateReason") == ALARM_REASON:
            names.add(alarm.get("AlarmName"))
    return names


def dead_letter_seconds(sqs, deployment: Deployment) -> float:
    """How long a bad message takes to reach the DLQ: max_receive_count visibility timeouts."""
    with needs(COMMAND, "sqs:GetQueueAttributes", f"queue {deployment.queue_url}"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=deployment.queue_url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    return int(redrive.get("maxReceiveCount", 1)) * int(attributes.get("VisibilityTimeout", 30))


def check_dead_letters(run: Run, expected_seconds: float) -> None:
    marker = f"deadline-sqs verify: a bad test message, please ignore ({run.job_id})"
    deployment = run.target.deployment
    started = time.monotonic()
    with needs(COMMAND, "sqs:SendMessage", f"queue {deployment.queue_url}"):
        run.clients.sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=json.dumps({"verify": marker}))
    inbox = Inbox(run.clients.sqs, deployment.dead_letter_queue_url, lambda body: marker in body)
    deadline = started + expected_seconds + max(run.timeout, DLQ_MARGIN_SECONDS)
    try:
        found = wait_for(lambda: inbox.bodies, [inbox], deadline)
    finally:
        inbox.release()
    seconds = time.monotonic() - started
    if found:
        run.add(PathResult(DEAD_LETTERS, PASS, seconds, "received there and removed"))
    else:
        run.add(PathResult(
            DEAD_LETTERS, FAIL, seconds,
            f"not in the dead-letter queue after {seconds:.0f} s (expected about {expected_seconds:.0f} s): check the "
            "queue's redrive policy and that the processor reports bad messages as batch item failures; the test "
            "message may still arrive (`deadline-sqs dlq` shows it)",
        ))  # fmt: skip


# --- the command ---------------------------------------------------------------------------


def verify(
    clients: Clients,
    target: VerifyTarget,
    *,
    timeout: float = 60,
    dead_letters: bool = False,
    out: TextIO,
    run_id: str | None = None,
) -> list[PathResult]:
    """Check every path once, printing each result as it comes; everything made is removed however it ends."""
    base = temporary_base(target.name)
    leftovers = find_leftovers(clients, target, base)
    if leftovers:
        problems = remove_leftovers(clients, target, leftovers)
        count = len(leftovers.queues) + len(leftovers.rules) + len(leftovers.subscriptions)
        out.write(f"Removed {count - len(problems)} of {count} resources an interrupted run left, with their test items.\n")
        for problem in problems:
            out.write(f"  could not: {problem}\n")
    job_id = marked_job_id(COMMAND)
    made = Temporaries(temporary_name(base, run_id or new_run_id()))
    run = Run(clients, target, timeout, job_id, out=out)
    try:
        create_temporaries(clients, target, made, job_id)
        run.inbox = Inbox(clients.sqs, made.queue_url)
        if made.subscription_arn and not made.subscription_arn.startswith("arn:"):
            made.subscription_arn = confirm_subscription(run, target.alarm_topic_arn) or made.subscription_arn
        if target.alert_queue_url:
            run.alert_inbox = Inbox(clients.sqs, target.alert_queue_url, lambda body: job_id in body)
        _run_paths(run, dead_letters)
    finally:
        left = remove_temporaries(clients, made)
        steps: list[tuple[str, str, Callable[[], object]]] = [("dynamodb:DeleteItem and dynamodb:Query", f"the items of test job {job_id}",
                  lambda: delete_marked_job(clients.dynamodb, target.deployment, job_id))]
        if run.alert_inbox:
            steps.append(("sqs:ChangeMessageVisibility", f"queue {target.alert_queue_url}", run.alert_inbox.release))
        problems = each(steps)
        if not left and not problems:
            out.write(f"Removed what verify made ({', '.join(made.kinds())}) and the test job's items.\n")
        for problem in left:
            out.write(f"Not removed ({problem}); the next verify run removes it.\n")
        for problem in problems:
            out.write(f"Not done ({problem}).\n")
    return run.results


def _run_paths(run: Run, dead_letters: bool) -> None:
    target = run.target
    statuses = target.alert_statuses
    status = PREFERRED_ALERT_STATUS if PREFERRED_ALERT_STATUS in statuses or not statuses else statuses[0]
    probe_problem = prove_rule_delivers(run) if target.bus_name else ""
    notifications = marked_job_notifications(run.job_id, datetime.now(UTC), TEST_JOB_NAME, _JOB_EVENT_OF_STATUS[status])
    sent = time.monotonic()
    stored = check_queue_to_tables(run, notifications)
    if not target.bus_name:
        run.add(PathResult(TABLES_TO_BUS, NOT_DEPLOYED, None, "the stack has no status-change events (status_events)"))
        run.add(PathResult(JOB_ALERT, NOT_DEPLOYED, None, "no status-change events, so no job alerts"))
    elif not stored:
        run.add(PathResult(TABLES_TO_BUS, FAIL, None, "not checked: the test job was not stored (above)"))
        run.add(PathResult(JOB_ALERT, FAIL, None, "not checked: the test job was not stored (above)"))
    else:
        on_bus = check_tables_to_bus(run, sent, probe_problem)
        if statuses:
            check_job_alert(run, sent, on_bus)
        else:
            run.add(PathResult(JOB_ALERT, NOT_DEPLOYED, None, "no rule sends job statuses to the alarm topic (alert_statuses)"))
    if target.alarm_names is None:
        run.add(PathResult("alarms -> alarm topic", NOT_LOCAL, None, "CloudWatch alarms exist only in AWS"))
    else:
        check_alarms(run)
    if dead_letters:
        check_dead_letters(run, dead_letter_seconds(run.clients.sqs, target.deployment))
