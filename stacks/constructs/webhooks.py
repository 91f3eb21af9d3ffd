"""Webhooks (config `webhooks`): two ways to the endpoint, chosen per webhook.

- A plain `url` with format `json` (a production tracker's receiver): an EventBridge API destination.
  Its Connection's API_KEY authorization holds the `auth` header, its value a Secrets Manager dynamic
  reference resolved into the connection's own secret (never shown by DescribeConnection), or, for an
  endpoint that wants none, the fixed, non-secret header X-Deadline-Sqs-Studio. The rule retries for
  an hour and dead-letters to DeliveryDeadLetterQueue; the destination invokes at most once a second.
- Every other webhook (a URL in a secret, or a rendered format): the sender (stacks/constructs/deliveries.py),
  which reads the URL's and the header's secrets at send time. ``sender_rules`` gives their
  DeliveryRules, each granting the sender secretsmanager:GetSecretValue on exactly its secrets.

A secret's URL in an API destination's endpoint would be resolved into the template's deployed state
and shown by DescribeApiDestination (and never follow a rotation): so a URL that carries a token
never goes there (stacks.destinations refuses one in `url`).
"""

# jsii's classes do not match their own interfaces structurally, so argument types are not checked here.
# pyright: reportArgumentType=false

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from aws_cdk import ArnFormat, SecretValue, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from deliveries.destinations import WEBHOOK, Destination
from stacks.constructs import acknowledge
from stacks.constructs.deliveries import EVENTS_SERVICE, DeliveryRule, destination_rule, let_rules_use_key
from stacks.destinations import SECRET_ARN, Webhook

# The header an API destination's connection sends when the webhook names no auth (a connection needs one).
STUDIO_HEADER = "X-Deadline-Sqs-Studio"
INVOCATIONS_PER_SECOND = 1
# Secrets Manager ends a secret's ARN with "-" and 6 random characters: a name's ARN needs them matched.
SECRET_SUFFIX = "-??????"
FULL_SECRET_ARN = re.compile(r"-[A-Za-z0-9]{6}$")


def secret_arn(scope: Construct, secret: str) -> str:
    """The ARN to grant for a secret the config names: a full ARN as given; a partial ARN or a name with
    SECRET_SUFFIX (IAM sees the full ARN, which ends with Secrets Manager's 6 random characters)."""
    if SECRET_ARN.fullmatch(secret):
        return secret if FULL_SECRET_ARN.search(secret) else secret + SECRET_SUFFIX
    return Stack.of(scope).format_arn(
        service="secretsmanager",
        resource="secret",
        resource_name=secret + SECRET_SUFFIX,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def secret_read_grant(scope: Construct, secrets: Sequence[str]) -> Callable[[iam.IGrantable], None]:
    """secretsmanager:GetSecretValue on exactly ``secrets`` (names or ARNs)."""

    def grant(grantee: iam.IGrantable) -> None:
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["secretsmanager:GetSecretValue"],
            resource_arns=[secret_arn(scope, secret) for secret in secrets],
        )

    return grant


def sender_destination(webhook: Webhook) -> Destination:
    """What the sender reads of a webhook: secret ids and plain URLs, never a secret's value."""
    return Destination(
        name=webhook.name,
        kind=WEBHOOK,
        target=webhook.url_secret or webhook.url or "",
        format=webhook.format,
        url_is_secret=webhook.url_secret is not None,
        auth_header=webhook.auth_header,
        auth_secret=webhook.auth_secret,
    )


def sender_rules(scope: Construct, webhooks: Sequence[Webhook]) -> list[DeliveryRule]:
    """The DeliveryRules of the webhooks the sender posts (all but API destinations)."""
    return [
        DeliveryRule(sender_destination(webhook), webhook.pattern(), secret_read_grant(scope, webhook.secrets))
        for webhook in webhooks
        if not webhook.api_destination
    ]


class ApiDestinationWebhooks(Construct):
    """An API destination, its connection, its rule and the rule's role, per webhook of ``webhooks``
    delivered by EventBridge itself (Webhook.api_destination).

    ``dead_letter_queue`` (DeliveryDeadLetterQueue) receives what the rules cannot deliver; its policy
    lets EventBridge send from these rules only, and its ``key``, if any, lets EventBridge use it.
    Each rule's role may invoke its own API destination and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        webhooks: Sequence[Webhook],
        bus: events.IEventBus,
        dead_letter_queue: sqs.IQueue,
        key: kms.IKey | None,
        studio_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rules: list[events.CfnRule] = []
        self.destinations: dict[str, events.ApiDestination] = {}
        for webhook in webhooks:
            if not webhook.api_destination:
                continue
            name = webhook.name
            if webhook.auth_header and webhook.auth_secret:
                authorization = events.Authorization.api_key(
                    webhook.auth_header, SecretValue.secrets_manager(webhook.auth_secret)
                )
            else:
                authorization = events.Authorization.api_key(STUDIO_HEADER, SecretValue.unsafe_plain_text(studio_name))
            connection = events.Connection(
                self, f"Connection-{name}", authorization=authorization, description=f"Webhook {name}'s authorization"
            )
            destination = events.ApiDestination(
                self,
                f"ApiDestination-{name}",
                connection=connection,
                endpoint=webhook.url or "",
                http_method=events.HttpMethod.POST,
                rate_limit_per_second=INVOCATIONS_PER_SECOND,
                description=f"Webhook {name}: Deadline status changes as they are",
            )
            role = iam.Role(
                self,
                f"Role-{name}",
                assumed_by=iam.ServicePrincipal(EVENTS_SERVICE),
                description=f"EventBridge's role for webhook {name}: invokes its API destination only",
            )
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["events:InvokeApiDestination"], resources=[destination.api_destination_arn_for_policy]
                )
            )
            acknowledge(
                role,
                {"NIST.800.53.R5::NIST.800.53.R5-IAMNoInlinePolicy": (
                    "The rule's own role carries one statement: events:InvokeApiDestination on its own API "
                    "destination; a managed policy could be attached elsewhere"
                )},
            )
            self.destinations[name] = destination
            self.rules.append(
                destination_rule(
                    self,
                    name,
                    description=f"Deadline status changes for webhook {name}: to its API destination",
                    bus=bus,
                    event_pattern=webhook.pattern(),
                    target_id="ApiDestination",
                    target_arn=destination.api_destination_arn,
                    dead_letter_queue=dead_letter_queue,
                    role_arn=role.role_arn,
                )
            )
        if self.rules:
            self._let_rules_dead_letter(dead_letter_queue, key, bus.event_bus_name)

    def _let_rules_dead_letter(self, dead_letter_queue: sqs.IQueue, key: kms.IKey | None, bus_name: str) -> None:
        events_service = iam.ServicePrincipal(EVENTS_SERVICE)
        dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[events_service],
                actions=["sqs:SendMessage"],
                resources=[dead_letter_queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": [rule.attr_arn for rule in self.rules]}},
            )
        )
        if key is not None:
            let_rules_use_key(self, key, bus_name, [rule.name for rule in self.rules if rule.name])
