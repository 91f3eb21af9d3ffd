"""verify's alarm path, through moto's SNS and SQS, with a stand-in for CloudWatch's alarm API.

LOCAL STAND-IN: moto 5 keeps no alarm action history and publishes nothing on SetAlarmState,
so `CloudWatchStandIn` does what CloudWatch does for an alarm whose action is the topic: it
publishes the alarm's notification (the fields verify reads, with the state reason given) to
the topic through moto's SNS, so the temporary subscription really receives it, and records
the Action history item; for an alarm whose action AWS refuses, it records the failed action
with AWS's error text and publishes nothing. Everything else (the temporary queue, its
subscription, the SNS envelope) is real moto.
"""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from deadline_sqs.deployment import Deployment
from deadline_sqs.verify import FAIL, PASS, SKIP, Inbox, Run, alarm_path, check_alarms
from deadline_sqs.verify_resources import (
    Clients,
    Temporaries,
    VerifyTarget,
    create_temporaries,
    remove_temporaries,
    temporary_base,
    temporary_name,
)
from local_pipeline.engines import local_client

REFUSED = (
    "User: arn:aws:sts::123456789012:assumed-role/cloudwatch is not authorized to perform: SNS:Publish on "
    "resource: {topic} because no resource-based policy allows the SNS:Publish action"
)
_stacks = itertools.count()


class CloudWatchStandIn:
    """A stand-in for the CloudWatch calls verify makes (see the module's docstring)."""

    def __init__(self, sns, topic_arn: str, states: dict[str, str], refused: set[str]):
        self.sns = sns
        self.topic_arn = topic_arn
        self.states = dict(states)
        self.refused = refused
        self.history: dict[str, list[dict]] = defaultdict(list)

    def describe_alarms(self, AlarmNames: list[str]) -> dict:
        return {"MetricAlarms": [{"AlarmName": n, "StateValue": self.states[n]} for n in AlarmNames if n in self.states]}

    def get_paginator(self, operation: str) -> SimpleNamespace:
        assert operation == "describe_alarms", operation
        return SimpleNamespace(paginate=lambda **request: iter([self.describe_alarms(**request)]))

    def set_alarm_state(self, AlarmName: str, StateValue: str, StateReason: str) -> None:
        self.states[AlarmName] = StateValue
        if AlarmName in self.refused:
            state, data = "Failed", {"error": REFUSED.format(topic=self.topic_arn)}
        else:
            self.sns.publish(
                TopicArn=self.topic_arn,
                Subject=f'ALARM: "{AlarmName}"',
                Message=json.dumps({"AlarmName": AlarmName, "NewStateValue": StateValue, "NewStateReason": StateReason}),
            )
            state, data = "Succeeded", {}
        self.history[AlarmName].append({
            "AlarmName": AlarmName,
            "Timestamp": datetime.now(UTC),
            "HistoryItemType": "Action",
            "HistorySummary": f"Successfully executed action {self.topic_arn}" if state == "Succeeded" else
                              f'Failed to execute action {self.topic_arn}. Received error: "{data["error"]}"',
            "HistoryData": json.dumps({"actionState": state, "notificationResource": self.topic_arn, **data}),
        })  # fmt: skip

    def describe_alarm_history(self, AlarmName: str, StartDate: datetime, **_options) -> dict:
        return {"AlarmHistoryItems": [item for item in self.history[AlarmName] if item["Timestamp"] >= StartDate]}


@pytest.fixture
def alarm_run(local_sqs):
    """A stack's alarm topic on moto, verify's temporary queue subscribed to it, and a Run over them."""
    stack = f"DeadlineNotifications-alarms{next(_stacks)}"
    sns = local_client("sns", local_sqs.endpoint_url)
    topic = sns.create_topic(Name=f"{stack}-alarms")["TopicArn"]
    alarms = {f"{stack}-DeadLetterAlarm": "OK", f"{stack}-ErrorsAlarm": "INSUFFICIENT_DATA", f"{stack}-AgeAlarm": "ALARM"}
    cloudwatch = CloudWatchStandIn(sns, topic, alarms, refused={f"{stack}-ErrorsAlarm"})
    clients = Clients(sqs=local_sqs.client(), dynamodb=None, sns=sns, cloudwatch=cloudwatch)
    target = VerifyTarget(stack, Deployment(), alarm_topic_arn=topic, alarm_names=tuple(sorted(alarms)))
    made = Temporaries(temporary_name(temporary_base(stack), "89abcdef"))
    create_temporaries(clients, target, made, "deadline-sqs-test-verify-alarms")
    try:
        yield Run(clients, target, 30, "deadline-sqs-test-verify-alarms", inbox=Inbox(clients.sqs, made.queue_url), out=io.StringIO())
    finally:
        assert remove_temporaries(clients, made) == []


def test_each_alarm_is_proven_by_its_action_history_and_the_subscription(alarm_run):
    check_alarms(alarm_run)
    stack = alarm_run.target.name
    results = {result.path: result for result in alarm_run.results}
    assert set(results) == {alarm_path(name) for name in alarm_run.target.alarm_names}

    passed = results[alarm_path(f"{stack}-DeadLetterAlarm")]
    assert passed.outcome == PASS and passed.note == "in its action history and received by the subscription"

    refused = results[alarm_path(f"{stack}-ErrorsAlarm")]
    assert refused.outcome == FAIL
    assert refused.note.startswith("CloudWatch may not publish to the topic: the topic policy lacks cloudwatch.amazonaws.com")
    assert "no resource-based policy allows the SNS:Publish action" in refused.note  # AWS's own words

    # Already in ALARM: skipped, not forced to OK (and it counts as not passed).
    skipped = results[alarm_path(f"{stack}-AgeAlarm")]
    assert skipped.outcome == SKIP and "not forced" in skipped.note
    assert alarm_run.clients.cloudwatch.states[f"{stack}-AgeAlarm"] == "ALARM"
    assert not alarm_run.clients.cloudwatch.history[f"{stack}-AgeAlarm"]

    printed = alarm_run.out.getvalue().splitlines()
    assert len(printed) == 3 and all(line.split()[0] in (PASS, FAIL, SKIP) for line in printed)
