"""What `deadline-sqs verify` checks and what it makes there: the target, and its temporary resources.

The target is a stack (its outputs, alarms and job-alert statuses) or the local pipeline. The
temporaries (a queue, a rule on the bus to it, the queue's subscription to the alarm topic) are
named temporary_base(stack) + "-" + a run id, and the queue is tagged with the run's test job,
so a later run finds what an interrupted one left, with that run's test items, and removes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import is_not_found, needs
from deadline_sqs.deployment import Deployment, deployment_from_outputs, stack_outputs
from deadline_sqs.local_target import LocalTarget
from deadline_sqs.operations import delete_marked_job
from deadline_sqs.sending import queue_arn
from stacks.roles import ALARM_TOPIC_OUTPUT, EVENT_BUS
from status_events.changes import SOURCE

COMMAND = "verify"
TEMPORARY_PREFIX = "verify-"
RUN_ID_DIGITS = 8
NAME_LIMIT = 64  # EventBridge's limit on a rule's name (SQS allows 80)
JOB_TAG = "deadline-sqs-verify-job"  # on the temporary queue: the test job a later run removes


# --- what is verified ----------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyTarget:
    name: str  # the stack's name ("local" for the local pipeline): the temporaries carry it
    deployment: Deployment
    bus_name: str = ""  # empty: no status-change events
    alarm_topic_arn: str = ""  # empty locally: alert_queue_url stands in for it
    alert_statuses: tuple[str, ...] = ()  # the job statuses the stack's rules send to the alarm topic
    alarm_names: tuple[str, ...] | None = None  # None: alarms are not checked here (locally)
    alert_queue_url: str = ""  # locally, the alert rules' stand-in for the alarm topic


def target_from_stack(cloudformation, stack_name: str) -> VerifyTarget:
    outputs = stack_outputs(cloudformation, stack_name)
    alarms = []
    with needs(COMMAND, "cloudformation:ListStackResources", f"stack {stack_name}"):
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            alarms += [
                resource["PhysicalResourceId"]
                for resource in page["StackResourceSummaries"]
                if resource["ResourceType"] == "AWS::CloudWatch::Alarm" and resource.get("PhysicalResourceId")
            ]
    with needs(COMMAND, "cloudformation:GetTemplate", f"stack {stack_name}"):
        template = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    return VerifyTarget(
        name=stack_name,
        deployment=deployment_from_outputs(outputs, stack_name),
        bus_name=outputs.get(EVENT_BUS.output_key, ""),
        alarm_topic_arn=outputs.get(ALARM_TOPIC_OUTPUT, ""),
        alert_statuses=template_alert_statuses(json.loads(template) if isinstance(template, str) else template),
        alarm_names=tuple(sorted(alarms)),
    )


def template_alert_statuses(template: dict) -> tuple[str, ...]:
    """The job statuses of the template's rules that target one of its topics (the job alerts)."""
    resources = template.get("Resources", {})
    topics = {logical_id for logical_id, r in resources.items() if r.get("Type") == "AWS::SNS::Topic"}
    statuses: set[str] = set()
    for rule in resources.values():
        properties = rule.get("Properties", {})
        if rule.get("Type") == "AWS::Events::Rule" and any(
            target.get("Arn", {}).get("Ref") in topics for target in properties.get("Targets", [])
        ):
            statuses.update(properties.get("EventPattern", {}).get("detail", {}).get("status", []))
    return tuple(sorted(statuses))


def target_from_local(local: LocalTarget) -> VerifyTarget:
    return VerifyTarget(
        name="local",
        deployment=local.deployment,
        bus_name=local.bus_name,
        alert_statuses=tuple(local.alert_statuses),
        alert_queue_url=local.alert_queue_url,
    )


@dataclass(frozen=True)
class Clients:
    """boto3 clients (untyped, like everywhere else here); a service the target lacks has none."""

    sqs: Any
    dynamodb: Any
    events: Any = None  # with a bus
    sns: Any = None  # with an alarm topic
    cloudwatch: Any = None  # with alarms to check


# --- temporary resources -------------------------------------------------------------------


def temporary_base(stack_name: str) -> str:
    """The start of every temporary resource's name for this stack (the run id follows)."""
    base = TEMPORARY_PREFIX + stack_name
    room = NAME_LIMIT - RUN_ID_DIGITS - 1
    if len(base) <= room:
        return base
    digest = hashlib.sha256(stack_name.encode()).hexdigest()[:6]  # keeps two long stack names apart
    return f"{base[: room - len(digest) - 1]}-{digest}"


def temporary_name(base: str, run_id: str) -> str:
    return f"{base}-{run_id}"


def new_run_id() -> str:
    return uuid.uuid4().hex[:RUN_ID_DIGITS]


def is_temporary(name: str, base: str) -> bool:
    """Whether `name` is one of this stack's temporaries (not another stack's whose name starts alike)."""
    return re.fullmatch(re.escape(base) + f"-[0-9a-f]{{{RUN_ID_DIGITS}}}", name) is not None


@dataclass
class Temporaries:
    """What one run made; each is set once it exists, so clean-up removes exactly that."""

    name: str
    queue_url: str = ""
    queue_arn: str = ""
    rule_bus: str = ""  # the bus the rule is on, once it exists
    subscription_arn: str = ""

    def kinds(self) -> list[str]:
        made = {"queue": self.queue_url, "rule": self.rule_bus, "subscription": self.subscription_arn}
        return [f"the temporary {kind}" for kind, exists in made.items() if exists]


def queue_policy(queue: str, rule_arn: str, topic_arn: str) -> dict:
    """TLS only; the temporary rule and the alarm topic, and nothing else, may send to the queue."""
    statements: list[dict] = [
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    for service, source in (("events.amazonaws.com", rule_arn), ("sns.amazonaws.com", topic_arn)):
        if source:
            statements.append({
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sqs:SendMessage",
                "Resource": queue,
                "Condition": {"ArnEquals": {"aws:SourceArn": source}},
            })  # fmt: skip
    return {"Version": "2012-10-17", "Statement": statements}


def create_temporaries(clients: Clients, target: VerifyTarget, made: Temporaries, job_id: str) -> None:
    """The queue (tagged with the test job), the rule on the bus to it, its subscription to the topic."""
    sqs = clients.sqs
    with needs(COMMAND, "sqs:CreateQueue and sqs:TagQueue", f"queue {made.name}"):
        made.queue_url = sqs.create_queue(
            QueueName=made.name,
            Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"},
            tags={JOB_TAG: job_id},
        )["QueueUrl"]
    made.queue_arn = queue_arn(sqs, made.queue_url)
    rule_arn = ""
    if target.bus_name:
        with needs(COMMAND, "events:PutRule", f"bus {target.bus_name}"):
            rule_arn = clients.events.put_rule(
                Name=made.name,
                EventBusName=target.bus_name,
                EventPattern=json.dumps({"source": [SOURCE], "detail": {"jobId": [job_id]}}),
                Description="deadline-sqs verify: temporary, removed when verify ends",
            )["RuleArn"]
        made.rule_bus = target.bus_name
    with needs(COMMAND, "sqs:SetQueueAttributes", f"queue {made.name}"):
        policy = queue_policy(made.queue_arn, rule_arn, target.alarm_topic_arn)
        sqs.set_queue_attributes(QueueUrl=made.queue_url, Attributes={"Policy": json.dumps(policy)})
    if target.bus_name:
        with needs(COMMAND, "events:PutTargets", f"rule {made.name}"):
            answer = clients.events.put_targets(
                Rule=made.name, EventBusName=target.bus_name, Targets=[{"Id": "verify", "Arn": made.queue_arn}]
            )
        if answer.get("FailedEntryCount"):
            raise CommandError(f"rule {made.name}: its target was refused: {answer['FailedEntries'][0].get('ErrorMessage')}")
    if target.alarm_topic_arn:
        # Without ReturnSubscriptionArn, SNS answers "pending confirmation" instead of an ARN when the
        # subscription waits for its confirmation (verify then confirms it with the token it receives).
        with needs(COMMAND, "sns:Subscribe", f"topic {target.alarm_topic_arn}"):
            made.subscription_arn = clients.sns.subscribe(
                TopicArn=target.alarm_topic_arn, Protocol="sqs", Endpoint=made.queue_arn
            )["SubscriptionArn"]


def remove_temporaries(clients: Clients, made: Temporaries) -> list[str]:
    """Remove what `made` holds, each step on its own: the problems, one line each (none: all removed)."""
    steps: list[tuple[str, str, Callable[[], object]]] = []
    if made.subscription_arn.startswith("arn:"):  # an unconfirmed one cannot be: SNS deletes it in 48 hours
        steps.append(("sns:Unsubscribe", f"subscription {made.subscription_arn}",
                      lambda: clients.sns.unsubscribe(SubscriptionArn=made.subscription_arn)))
    if made.rule_bus:
        steps.append(("events:RemoveTargets and events:DeleteRule", f"rule {made.name}",
                      lambda: _delete_rule(clients.events, made.rule_bus, made.name)))
    if made.queue_url:
        steps.append(("sqs:DeleteQueue", f"queue {made.queue_url}",
                      lambda: clients.sqs.delete_queue(QueueUrl=made.queue_url)))
    return each(steps)


def _delete_rule(events, bus: str, rule: str) -> None:
    targets = [t["Id"] for t in events.list_targets_by_rule(Rule=rule, EventBusName=bus).get("Targets", [])]
    if targets:
        events.remove_targets(Rule=rule, EventBusName=bus, Ids=targets)
    events.delete_rule(Name=rule, EventBusName=bus)


def each(steps: Iterable[tuple[str, str, Callable[[], object]]]) -> list[str]:
    """Run every step, whatever the others do: the problems, one line each (something gone already is none)."""
    problems = []
    for action, resource, step in steps:
        try:
            with needs(COMMAND, action, resource):
                try:
                    step()
                except ClientError as error:
                    if not is_not_found(error):
                        raise
        except CommandError as error:
            problems.append(str(error))
    return problems


@dataclass(frozen=True)
class Leftovers:
    """What interrupted runs left: queues (with their test job's id), rules, subscriptions."""

    queues: dict[str, str] = field(default_factory=dict)  # queue URL -> test job id ("" if untagged)
    rules: tuple[str, ...] = ()
    subscriptions: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.queues or self.rules or self.subscriptions)


def find_leftovers(clients: Clients, target: VerifyTarget, base: str) -> Leftovers:
    queues = {}
    with needs(COMMAND, "sqs:ListQueues and sqs:ListQueueTags", f"queues {base}-*"):
        for page in clients.sqs.get_paginator("list_queues").paginate(QueueNamePrefix=base):
            for url in page.get("QueueUrls", []):
                if is_temporary(url.rsplit("/", 1)[-1], base):
                    queues[url] = clients.sqs.list_queue_tags(QueueUrl=url).get("Tags", {}).get(JOB_TAG, "")
    rules: list[str] = []
    if target.bus_name:
        with needs(COMMAND, "events:ListRules", f"bus {target.bus_name}"):
            for page in clients.events.get_paginator("list_rules").paginate(EventBusName=target.bus_name, NamePrefix=base):
                rules += [rule["Name"] for rule in page["Rules"] if is_temporary(rule["Name"], base)]
    subscriptions: list[str] = []
    if target.alarm_topic_arn:
        with needs(COMMAND, "sns:ListSubscriptionsByTopic", f"topic {target.alarm_topic_arn}"):
            for page in clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=target.alarm_topic_arn):
                subscriptions += [
                    s["SubscriptionArn"]
                    for s in page["Subscriptions"]
                    if s["Protocol"] == "sqs" and is_temporary(s["Endpoint"].rsplit(":", 1)[-1], base)
                    and s["SubscriptionArn"].startswith("arn:")
                ]
    return Leftovers(queues, tuple(rules), tuple(subscriptions))


def remove_leftovers(clients: Clients, target: VerifyTarget, leftovers: Leftovers) -> list[str]:
    """Remove the leftovers and their test jobs' items: the problems, one line each."""
    steps: list[tuple[str, str, Callable[[], object]]] = []
    for arn in leftovers.subscriptions:
        steps.append(("sns:Unsubscribe", f"subscription {arn}", lambda arn=arn: clients.sns.unsubscribe(SubscriptionArn=arn)))
    for rule in leftovers.rules:
        steps.append(("events:RemoveTargets and events:DeleteRule", f"rule {rule}",
                      lambda rule=rule: _delete_rule(clients.events, target.bus_name, rule)))
    for url, job_id in leftovers.queues.items():
        if job_id:
            steps.append(("dynamodb:Query and dynamodb:DeleteItem", f"the items of test job {job_id}",
                          lambda job_id=job_id: delete_marked_job(clients.dynamodb, target.deployment, job_id)))
        steps.append(("sqs:DeleteQueue", f"queue {url}", lambda url=url: clients.sqs.delete_queue(QueueUrl=url)))
    return each(steps)
