"""Job alerts: a rule on the status-change bus that sends chosen job statuses to a topic, readably."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from notification_processor.roles import JOB, TABLE_ROLES
from status_events.changes import SOURCE, status_change_type


def _field(name: str) -> str:
    return events.EventField.from_path(f"$.detail.{name}")


# One line per alert, e.g. "Deadline job shot010_lighting (65e5d7...) of amelie is Failed
# (2024-03-04T15:02:11.0000000Z, studio default): Job has failed. Errors: 3."
ALERT_TEXT = (
    f"Deadline job {_field('jobName')} ({_field('jobId')}) of {_field('userName')} is {_field('status')} "
    f"({_field('timestamp')}, studio {_field('studio')}): {_field('statusReason')}. Errors: {_field('errors')}."
)


class JobAlerts(Construct):
    """Sends the status changes of jobs to one of ``statuses`` to ``topic`` as one readable line.

    Events EventBridge cannot deliver go to ``dead_letter_queue``. A topic encrypted with a
    customer managed key lets EventBridge use the key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        topic: sns.ITopic,
        statuses: Sequence[str],
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self,
            "Rule",
            event_bus=bus,
            description=f"Deadline jobs that became {' or '.join(statuses)}: to the alarm topic",
            event_pattern=events.EventPattern(
                source=[SOURCE],
                detail_type=[status_change_type(TABLE_ROLES[JOB])],
                detail={"status": list(statuses)},
            ),
        )
        self.rule.add_target(TopicMessage(topic, events.RuleTargetInput.from_text(ALERT_TEXT), dead_letter_queue))


@jsii.implements(events.IRuleTarget)
class TopicMessage:
    """A topic as a rule's target, allowed for this rule only (the job alerts' and the failing workers' rules).

    Not aws_events_targets.SnsTopic: that one lets any rule publish, and grants EventBridge
    kms:GenerateDataKey* (a wildcard) on the topic's key.
    """

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput, dead_letter_queue: sqs.IQueue):
        self.topic = topic
        self.message = message
        self.dead_letter_queue = dead_letter_queue

    def bind(self, rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        events_service = iam.ServicePrincipal("events.amazonaws.com")
        from_this_rule = {"ArnEquals": {"aws:SourceArn": rule.rule_arn}}
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[events_service], actions=["sns:Publish"], resources=[self.topic.topic_arn], conditions=from_this_rule
            )
        )
        self.dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[events_service],
                actions=["sqs:SendMessage"],
                resources=[self.dead_letter_queue.queue_arn],
                conditions=from_this_rule,
            )
        )
        key = getattr(self.topic, "master_key", None)
        if key is not None:
            key.grant(events_service, "kms:Decrypt", "kms:GenerateDataKey")
        return events.RuleTargetConfig(
            arn=self.topic.topic_arn,
            input=self.message,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
        )
