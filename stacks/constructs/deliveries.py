"""Deliveries: a rule per destination on the status-change bus -> DeliveryQueue -> the sender Lambda
-> the destination (the artists' topic, chat channels' topics, webhooks), each change once and in order.

docs/notifications.md describes the flow; lambda_src/deliveries/ is the sender.
"""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from deliveries.destinations import DESTINATIONS_VARIABLE, Destination, encode_destinations
from deliveries.handler import LEASE_VARIABLE, STATE_TABLE_VARIABLE
from deliveries.state import EXPIRES_AT, KEY
from stacks.config import VISIBILITY_TIMEOUT_FACTOR
from stacks.constructs import acknowledge, escape_hatch
from stacks.constructs.functions import own_function, queue_event_source
from stacks.constructs.monitoring import PERIOD, alarm
from stacks.constructs.processor import QUEUE_ACTIONS, SQS_FAILURES
from stacks.constructs.tables import durable_table_settings
from stacks.destinations import rule_input_template, rule_name
from stacks.roles import DELIVERY_DEAD_LETTER_QUEUE, DELIVERY_QUEUE, DELIVERY_STATE_TABLE, SENDER_HANDLER

SENDER_TIMEOUT = Duration.seconds(30)
SENDER_MEMORY_MB = 256
BATCH_SIZE = 10
# The fewest SQS allows: with the webhooks' pacing in code, this bounds the rate of every destination.
MAX_CONCURRENCY = 2
MAX_RECEIVE_COUNT = 5
QUEUE_RETENTION = Duration.days(4)
DEAD_LETTER_RETENTION = Duration.days(14)
# A rule retries an event EventBridge cannot put on the queue this long, this often, then dead-letters it.
RULE_MAX_EVENT_AGE = Duration.hours(1)
RULE_RETRY_ATTEMPTS = 20
# claim (PutItem), confirm (UpdateItem), release (PutItem or DeleteItem): deliveries.state.
STATE_ACTIONS = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
EVENTS_SERVICE = "events.amazonaws.com"
AWS_MANAGED_SNS_KEY = "alias/aws/sns"


@dataclass(frozen=True)
class DeliveryRule:
    """One destination's rule: its pattern (stacks.destinations.event_pattern) and what the sender needs to
    reach it (``grants``, called with the sender's role: sns:Publish on a topic, a secret's read)."""

    destination: Destination
    event_pattern: dict
    grants: Callable[[iam.IGrantable], None] | None = None


class Deliveries(Construct):
    """The rules of ``destinations`` on ``bus``, DeliveryQueue and its dead-letter queue, the state table and the sender.

    Each rule targets DeliveryQueue with its destination's name wrapped around the event, retries
    for ``RULE_MAX_EVENT_AGE`` and dead-letters to DeliveryDeadLetterQueue; the queue policy lets
    EventBridge send from these rules only. Both queues are TLS-only and encrypted (``key`` when
    given, else SQS-managed); the state table is on demand, with point-in-time recovery, encrypted
    like the other tables, its items expiring after a week. ``alarms``: anything in the
    dead-letter queue. ``receive_alarms(topic)`` subscribes the queue to the alarm topic, for the
    destinations with ``alarms``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bus: events.IEventBus,
        destinations: Sequence[DeliveryRule],
        queue_name: str,
        dead_letter_queue_name: str,
        key: kms.IKey | None,
        log_retention_days: int,
        tracing: bool,
        table_name: str,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        encryption = {"encryption": sqs.QueueEncryption.SQS_MANAGED}
        if key is not None:
            encryption = {"encryption": sqs.QueueEncryption.KMS, "encryption_master_key": key}
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            queue_name=dead_letter_queue_name,
            retention_period=DEAD_LETTER_RETENTION,
            enforce_ssl=True,
            removal_policy=removal_policy,
            **encryption,
        )
        escape_hatch(self.dead_letter_queue).override_logical_id(DELIVERY_DEAD_LETTER_QUEUE.logical_id)
        acknowledge(
            self.dead_letter_queue,
            {
                "AwsSolutions::AwsSolutions-SQS3": (
                    "This queue is itself a dead-letter queue: DeliveryQueue's, the rules' and the alarm "
                    "subscription's (alarmed when it holds anything)"
                ),
                "Serverless::Serverless-SQSRedrivePolicy": (
                    "This queue is itself a dead-letter queue (alarmed when it holds anything)"
                ),
            },
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            queue_name=queue_name,
            retention_period=QUEUE_RETENTION,
            visibility_timeout=Duration.seconds(VISIBILITY_TIMEOUT_FACTOR * SENDER_TIMEOUT.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVE_COUNT),
            enforce_ssl=True,
            removal_policy=removal_policy,
            **encryption,
        )
        escape_hatch(self.queue).override_logical_id(DELIVERY_QUEUE.logical_id)

        self.table = dynamodb.Table(
            self,
            "StateTable",
            table_name=table_name,
            partition_key=dynamodb.Attribute(name=KEY, type=dynamodb.AttributeType.STRING),
            time_to_live_attribute=EXPIRES_AT,
            **durable_table_settings(key=key, removal_policy=removal_policy, deletion_protection=deletion_protection),
        )
        escape_hatch(self.table).override_logical_id(DELIVERY_STATE_TABLE.logical_id)
        acknowledge(
            self.table,
            {"NIST.800.53.R5::NIST.800.53.R5-DynamoDBInBackupPlan": (
                "Point-in-time recovery keeps 35 days of continuous backups of a table whose items expire "
                "after a week; an AWS Backup plan would add copies of nothing durable"
            )},
        )

        self.rules = [self._rule(bus, each) for each in destinations]
        self._let_rules_send(bus.event_bus_name)
        self.destinations = [each.destination for each in destinations]
        own = own_function(
            self,
            handler=SENDER_HANDLER,
            description="Delivers Deadline status changes to artists, chat channels and webhooks, each once",
            role_description="Runs the delivery sender: reads DeliveryQueue, writes its state table, sends",
            timeout=SENDER_TIMEOUT,
            memory_size=SENDER_MEMORY_MB,
            environment={
                DESTINATIONS_VARIABLE: encode_destinations(self.destinations),
                STATE_TABLE_VARIABLE: self.table.table_name,
                LEASE_VARIABLE: str(int(SENDER_TIMEOUT.to_seconds())),
            },
            log_retention_days=log_retention_days,
            key=key,
            tracing=tracing,
            failures_handled_by=SQS_FAILURES,
            removal_policy=removal_policy,
        )
        self.function, self.role = own.function, own.role
        self.queue.grant(own.role, *QUEUE_ACTIONS)
        self.table.grant(own.role, *STATE_ACTIONS)
        if key is not None:  # DeliveryQueue's messages and the state table are encrypted with it
            key.grant(own.role, "kms:Decrypt")
        for each in destinations:
            if each.grants is not None:
                each.grants(own.role)
        own.depend_on_role_policy()
        self.event_source_mapping = queue_event_source(
            self,
            "QueueEventSource",
            function=self.function,
            queue_arn=self.queue.queue_arn,
            batch_size=BATCH_SIZE,
            max_concurrency=MAX_CONCURRENCY,
        )
        failed = self.dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        self.alarms = [alarm(self, "DeadLetterAlarm", failed, 0, "Deliveries to artists, chat or webhooks failed")]

    def receive_alarms(self, topic: sns.ITopic) -> None:
        """Subscribe DeliveryQueue to the alarm ``topic`` (raw delivery off: the sender reads the envelope's
        TopicArn and MessageId), for the destinations with ``alarms``; failed deliveries go to the DLQ."""
        topic.add_subscription(
            subscriptions.SqsSubscription(self.queue, raw_message_delivery=False, dead_letter_queue=self.dead_letter_queue)
        )

    def _rule(self, bus: events.IEventBus, rule: DeliveryRule) -> events.CfnRule:
        name = rule.destination.name
        # An L1 rule: the L2's inputs cannot state <aws.events.event.json> (the whole event) as it is.
        return destination_rule(
            self,
            name,
            description=f"Deadline status changes for {rule.destination.kind} destination {name}: to the sender",
            bus=bus,
            event_pattern=rule.event_pattern,
            target_id="DeliveryQueue",
            target_arn=self.queue.queue_arn,
            dead_letter_queue=self.dead_letter_queue,
            input_transformer=events.CfnRule.InputTransformerProperty(input_template=rule_input_template(name)),
        )

    def _let_rules_send(self, bus_name: str) -> None:
        if not self.rules:
            return
        events_service = iam.ServicePrincipal(EVENTS_SERVICE)
        from_these_rules = {"ArnEquals": {"aws:SourceArn": [rule.attr_arn for rule in self.rules]}}
        for queue in (self.queue, self.dead_letter_queue):
            queue.add_to_resource_policy(
                iam.PolicyStatement(
                    principals=[events_service],
                    actions=["sqs:SendMessage"],
                    resources=[queue.queue_arn],
                    conditions=from_these_rules,
                )
            )
        key = self.queue.encryption_master_key
        if key is not None:
            let_rules_use_key(self, key, bus_name, [rule.name for rule in self.rules if rule.name])


def destination_rule(
    scope: Construct,
    destination: str,
    *,
    description: str,
    bus: events.IEventBus,
    event_pattern: dict,
    target_id: str,
    target_arn: str,
    dead_letter_queue: sqs.IQueue,
    **target,
) -> events.CfnRule:
    """A destination's rule (named rule_name(destination)) with one target, which EventBridge retries for
    RULE_MAX_EVENT_AGE, RULE_RETRY_ATTEMPTS times, then sends to ``dead_letter_queue``; ``target``: the
    target's other properties (an input transformer, a role)."""
    return events.CfnRule(
        scope,
        f"Rule-{destination}",
        name=rule_name(destination),
        description=description,
        event_bus_name=bus.event_bus_name,
        event_pattern=event_pattern,
        state="ENABLED",
        targets=[
            events.CfnRule.TargetProperty(
                id=target_id,
                arn=target_arn,
                retry_policy=events.CfnRule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(RULE_MAX_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=RULE_RETRY_ATTEMPTS,
                ),
                dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=dead_letter_queue.queue_arn),
                **target,
            )
        ],
    )


def let_rules_use_key(scope: Construct, key: kms.IKey, bus_name: str, rule_names: Sequence[str]) -> None:
    """Let EventBridge use ``key`` for the rules of these names (sending to a queue it encrypts).

    The stack's key encrypts more than these queues: for these rules only, by their ARNs from their
    names (the rules refer to the queues, which refer to the key: a GetAtt here would be a cycle)."""
    stack = Stack.of(scope)
    arns = [stack.format_arn(service="events", resource="rule", resource_name=f"{bus_name}/{name}") for name in rule_names]
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(EVENTS_SERVICE)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"ArnEquals": {"aws:SourceArn": arns}},
        )
    )


def destination_topic(scope: Construct, construct_id: str, *, topic_name: str, key: kms.IKey | None) -> sns.Topic:
    """A topic the sender publishes to: TLS-only, encrypted with ``key`` when given, else SNS's AWS managed key."""
    topic = sns.Topic(scope, construct_id, topic_name=topic_name, master_key=key, enforce_ssl=True)
    if key is None:  # by its alias, as SNS documents it (the L2 would write out an alias ARN)
        cast(sns.CfnTopic, topic.node.default_child).kms_master_key_id = AWS_MANAGED_SNS_KEY
    return topic


def publish_grant(topic: sns.ITopic, key: kms.IKey | None) -> Callable[[iam.IGrantable], None]:
    """sns:Publish on exactly ``topic`` (and, with a customer managed ``key``, what SNS asks KMS for as the publisher).

    Not Topic.grant_publish: with a key, that one grants kms:GenerateDataKey* (a wildcard)."""

    def grant(grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"], resource_arns=[topic.topic_arn])
        if key is not None:
            key.grant(grantee, "kms:Decrypt", "kms:GenerateDataKey")

    return grant
