"""`deadline-sqs subscribe`, `unsubscribe` and `subscriptions`: who gets which job notifications.

A subscription to the job-notification topic (stack output JobNotificationTopicArn) with a filter
policy on the message attributes the sender sets (deliveries.publishing): ``userName`` (one artist)
and ``status`` (of the statuses the topic is sent, config job_notification_statuses). An e-mail
subscription waits for its address to confirm it (SNS sends the link); until then SNS shows neither
its ARN nor its filter policy, and it cannot be removed (it lapses after three days).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import about

USER_ATTRIBUTE = "userName"
STATUS_ATTRIBUTE = "status"
PENDING = "PendingConfirmation"  # what SNS lists as the ARN of an unconfirmed subscription


def filter_policy(user: str, statuses: list[str]) -> dict:
    """The filter policy of one artist's subscription: their jobs' changes into ``statuses``."""
    return {USER_ATTRIBUTE: [user], STATUS_ATTRIBUTE: list(statuses)}


def chosen_statuses(given: str | None, allowed: list[str]) -> list[str]:
    """The statuses of ``--statuses`` (all of ``allowed`` if not given); a CommandError names what is not allowed."""
    if given is None:
        return list(allowed)
    statuses = [status.strip() for status in given.split(",") if status.strip()]
    wrong = [status for status in statuses if status not in allowed]
    if wrong or not statuses:
        raise CommandError(
            f"--statuses {given!r}: {', '.join(wrong) or 'none given'} not allowed; the topic is sent "
            f"{', '.join(allowed)} (config job_notification_statuses)"
        )
    return statuses


@dataclass(frozen=True)
class Subscription:
    arn: str  # PENDING until confirmed
    protocol: str
    endpoint: str
    user: str | None  # None: no filter policy on the user (or not readable while pending)
    statuses: list[str] | None  # None: every status

    @property
    def pending(self) -> bool:
        return self.arn == PENDING


def subscribe(sns, topic_arn: str, *, user: str, statuses: list[str], protocol: str, endpoint: str) -> str:
    """Subscribe ``endpoint`` to ``user``'s job notifications in ``statuses``; the subscription's ARN."""
    attributes = {"FilterPolicy": json.dumps(filter_policy(user, statuses))}
    if protocol == "sqs":
        attributes["RawMessageDelivery"] = "true"  # the structured JSON as the message body
    with about(f"topic {topic_arn}"):
        return sns.subscribe(
            TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]


def list_subscriptions(sns, topic_arn: str) -> list[Subscription]:
    """Every subscription of the topic, with the user and statuses its filter policy names."""
    found = []
    with about(f"topic {topic_arn}"):
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for each in page["Subscriptions"]:
                user, statuses = None, None
                if each["SubscriptionArn"] != PENDING:
                    attributes = sns.get_subscription_attributes(SubscriptionArn=each["SubscriptionArn"])["Attributes"]
                    policy = json.loads(attributes.get("FilterPolicy") or "{}")
                    users = policy.get(USER_ATTRIBUTE)
                    user = users[0] if isinstance(users, list) and len(users) == 1 else None
                    statuses = policy.get(STATUS_ATTRIBUTE)
                found.append(Subscription(each["SubscriptionArn"], each["Protocol"], each["Endpoint"], user, statuses))
    return found


def unsubscribe(sns, topic_arn: str, *, user: str, endpoint: str | None = None) -> tuple[list[Subscription], list[Subscription]]:
    """Remove ``user``'s subscriptions (only the one to ``endpoint``, if given): (removed, still pending)."""
    mine = [
        each for each in list_subscriptions(sns, topic_arn)
        if (each.user == user or each.pending) and (endpoint is None or each.endpoint == endpoint)
    ]  # fmt: skip
    removed = [each for each in mine if not each.pending]
    for each in removed:
        with about(f"subscription {each.arn}"):
            sns.unsubscribe(SubscriptionArn=each.arn)
    return removed, [each for each in mine if each.pending and endpoint is not None]


def format_subscriptions(subscriptions: list[Subscription], topic_arn: str) -> str:
    if not subscriptions:
        return f"No subscriptions to {topic_arn}: `deadline-sqs subscribe --user NAME --email ADDRESS` adds one."
    lines = [f"{len(subscriptions)} subscriptions to {topic_arn}:"]
    width = max(len(each.endpoint) for each in subscriptions)
    for each in sorted(subscriptions, key=lambda s: (s.user or "", s.endpoint)):
        if each.pending:
            who = "pending confirmation (its user and statuses show once the address confirms)"
        else:
            who = f"user {each.user or '(any)'}, statuses {', '.join(each.statuses) if each.statuses else '(any)'}"
        lines.append(f"  {each.protocol:<5} {each.endpoint:<{width}}  {who}")
    return "\n".join(lines)
