"""Chat channels through Amazon Q Developer in chat applications (AWS Chatbot): per channel a topic the
sender feeds with what the channel's filters let through, and the channel's configuration."""

# jsii's classes do not match their own interfaces structurally (to pyright a Function is
# no IFunction), so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from deliveries.destinations import CHAT, CHAT_FORMAT, Destination
from stacks.constructs import acknowledge
from stacks.constructs.deliveries import DeliveryRule, destination_topic, publish_grant
from stacks.destinations import SLACK, ChatChannel, event_pattern

CHATBOT_SERVICE = "chatbot.amazonaws.com"
LOGGING_LEVEL = "ERROR"


class ChatChannels(Construct):
    """One topic and one Slack or Teams channel configuration per channel of ``channels``.

    Each configuration has its own role (assumed by Q Developer, with no policy: the channel only
    receives notifications) and, explicitly, the guardrail ``guardrail`` (read-only on the
    channels' own topics), never the service's default AdministratorAccess. ``rules``: each
    channel's DeliveryRule (job status changes through its filters; alarms when it has ``alarms``).
    The Slack workspace or Teams team must be authorized in the console first (docs/notifications.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        channels: Sequence[ChatChannel],
        stack_name: str,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.Topic] = {
            channel.name: destination_topic(self, f"Topic-{channel.name}", topic_name=f"{stack_name}-chat-{channel.name}",
                                            key=key)
            for channel in channels
        }
        self.guardrail = iam.ManagedPolicy(
            self,
            "Guardrail",
            description="The most a chat channel's users may do: read its own topic's attributes",
            statements=[
                iam.PolicyStatement(
                    actions=["sns:GetTopicAttributes"], resources=[topic.topic_arn for topic in self.topics.values()]
                )
            ],
        )
        self.rules = []
        for channel in channels:
            topic = self.topics[channel.name]
            role = iam.Role(
                self,
                f"Role-{channel.name}",
                assumed_by=iam.ServicePrincipal(CHATBOT_SERVICE),
                description=f"Amazon Q Developer's role for chat channel {channel.name}: receives notifications only",
            )
            self._configuration(channel, topic, role)
            destination = Destination(name=channel.name, kind=CHAT, target=topic.topic_arn, format=CHAT_FORMAT,
                                      alarms=channel.alarms)
            self.rules.append(DeliveryRule(destination, event_pattern(**channel.filters), publish_grant(topic, key)))

    def _configuration(self, channel: ChatChannel, topic: sns.Topic, role: iam.Role) -> None:
        if channel.service == SLACK:
            chatbot.SlackChannelConfiguration(
                self,
                f"Slack-{channel.name}",
                slack_channel_configuration_name=channel.name,
                slack_workspace_id=channel.id("workspace_id"),
                slack_channel_id=channel.id("channel_id"),
                notification_topics=[topic],
                role=role,
                guardrail_policies=[self.guardrail],
                logging_level=chatbot.LoggingLevel.ERROR,
            )
        else:
            chatbot.CfnMicrosoftTeamsChannelConfiguration(
                self,
                f"Teams-{channel.name}",
                configuration_name=channel.name,
                iam_role_arn=role.role_arn,
                team_id=channel.id("team_id"),
                teams_channel_id=channel.id("channel_id"),
                teams_tenant_id=channel.id("tenant_id"),
                sns_topic_arns=[topic.topic_arn],
                guardrail_policies=[self.guardrail.managed_policy_arn],
                logging_level=LOGGING_LEVEL,
            )
        acknowledge(
            topic,
            {"Serverless::Serverless-SNSRedrivePolicy": (
                "Q Developer's own subscription to the channel's topic: the service makes it, a template cannot "
                "give it a dead-letter queue; the sender's deliveries to the topic are watched by its own DLQ"
            )},
        )
