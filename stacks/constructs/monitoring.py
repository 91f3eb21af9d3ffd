"""Alarms, the topic they (and job alerts) notify, with an optional e-mail subscription, and a dashboard."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from notification_processor.telemetry import METRIC_NAMES
from stacks.constructs import acknowledge

PERIOD = Duration.minutes(5)
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"


class Monitoring(Construct):
    """Alarms on the dead-letter queue, the oldest message's age, function errors and throttles.

    ``topic`` always exists (encrypted with its own key): every alarm, ``other_alarms``
    included, notifies it when it fires and when it clears. Subscribe anything to it (e-mail
    through ``alarm_email``, a chat channel, an on-call tool); other constructs may publish
    their own alerts to it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
        function: lambda_.IFunction,
        metrics_namespace: str,
        oldest_message_age_threshold: Duration,
        alarm_email: str | None,
        other_alarms: Sequence[cloudwatch.Alarm],
        dashboard_name: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        dead_letters = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=PERIOD, statistic="Maximum"
        )
        oldest_age = queue.metric_approximate_age_of_oldest_message(period=PERIOD, statistic="Maximum")
        errors = function.metric_errors(period=PERIOD, statistic="Sum")
        throttles = function.metric_throttles(period=PERIOD, statistic="Sum")
        self.alarms = [
            alarm(self, "DeadLetterAlarm", dead_letters, 0, "Notifications reached the dead-letter queue"),
            alarm(
                self,
                "OldestMessageAgeAlarm",
                oldest_age,
                oldest_message_age_threshold.to_seconds(),
                "The oldest notification in the queue has waited too long",
            ),
            alarm(self, "FunctionErrorsAlarm", errors, 0, "The processor failed whole invocations"),
            alarm(self, "FunctionThrottlesAlarm", throttles, 0, "The processor was throttled"),
            *other_alarms,
        ]

        self.topic = self._alarm_topic(removal_policy)
        if alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            acknowledge(
                self.topic,
                {"Serverless::Serverless-SNSRedrivePolicy": (
                    "The alarm e-mail subscription: SNS retries e-mail deliveries itself, and a dead-letter "
                    "queue for alarm e-mails would need an alarm of its own"
                )},
            )
        for each in self.alarms:
            each.add_alarm_action(actions.SnsAction(self.topic))
            each.add_ok_action(actions.SnsAction(self.topic))
        self._let_alarms_publish()

        processor_counts = [
            cloudwatch.Metric(
                namespace=metrics_namespace,
                metric_name=name,
                dimensions_map={"FunctionName": function.function_name},
                statistic="Sum",
                period=PERIOD,
            )
            for name in METRIC_NAMES.values()
        ]
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24, height=3),
        )
        self.dashboard.add_widgets(
            _graph(
                "Queue",
                queue.metric_number_of_messages_sent(period=PERIOD),
                queue.metric_number_of_messages_deleted(period=PERIOD),
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
            ),
            _graph("Oldest message age (seconds)", oldest_age),
            _graph("Dead-letter queue", dead_letters),
        )
        self.dashboard.add_widgets(
            _graph("Processor invocations", function.metric_invocations(period=PERIOD), errors, throttles),
            _graph("Processor duration (ms)", function.metric_duration(period=PERIOD, statistic="p99")),
            _graph("Processor notifications", *processor_counts),
        )

    def _alarm_topic(self, removal_policy: RemovalPolicy) -> sns.Topic:
        # CloudWatch cannot publish to a topic under the AWS managed SNS key, so the topic
        # gets its own customer managed key that CloudWatch may use.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the Deadline notification pipeline's alarm topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        # What SNS asks KMS for on CloudWatch's behalf. No condition: the key encrypts this topic
        # only, and the topic policy already limits CloudWatch to this stack's alarms.
        key.grant(iam.ServicePrincipal(CLOUDWATCH_SERVICE), "kms:Decrypt", "kms:GenerateDataKey")
        return sns.Topic(self, "AlarmTopic", master_key=key, enforce_ssl=True)

    def _let_alarms_publish(self) -> None:
        # The topic policy replaces SNS's default one, so CloudWatch must be let in. By the alarms'
        # own ARNs, not a "<stack name>-*" name pattern: a pattern would also match another stack whose
        # name starts with this one's (DeadlineNotifications-example-sandbox and -example). No cycle:
        # the alarms refer to the topic, the policy (its own resource) to the alarms.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": [each.alarm_arn for each in self.alarms]},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )


def alarm(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )


def _graph(title: str, *metrics: cloudwatch.IMetric) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=8, height=6)
