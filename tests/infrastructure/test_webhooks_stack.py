"""Webhooks in the template (studios/example.json has one of each format): API destinations for a plain URL
with format json, the sender's rules and secret reads for the rest, no secret anywhere in the template, and
the delivery-path walk's model of both (it fails when a grant or a role is missing)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from deliveries.destinations import DESTINATIONS_VARIABLE, WEBHOOK
from stacks.config import PROJECT_ROOT
from stacks.constructs.deliveries import RULE_MAX_EVENT_AGE, RULE_RETRY_ATTEMPTS
from stacks.constructs.webhooks import INVOCATIONS_PER_SECOND, STUDIO_HEADER
from stacks.roles import DELIVERY_DEAD_LETTER_QUEUE, SENDER_HANDLER
from stacks.synth import synthesize_template
from tests.infrastructure.delivery_paths import RULE_TARGET, SECRET_READ, WalkError, delivery_paths, problems
from tests.infrastructure.template_tools import (
    config_secrets,
    function_with_handler,
    policy_of,
    resources,
    role_policy,
)

EXAMPLE = "example"
# A starter with a tracker that wants no auth, and a webhook whose secret is named by a partial ARN.
TRACKER_WITHOUT_AUTH = {"name": "tracker", "url": "https://tracker.example.com/deadline", "format": "json"}
BY_ARN = {
    "name": "slack-by-arn",
    "url_secret": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deadline/webhooks/slack",
    "format": "slack",
}


@pytest.fixture(scope="module")
def example(studio_synthesis):
    studio = studio_synthesis.studios[EXAMPLE]
    return studio.template, studio.config


@pytest.fixture(scope="module")
def starter_with_webhooks():
    context = {"config": "studios/starter.json", "webhooks": json.dumps([TRACKER_WITHOUT_AUTH, BY_ARN])}
    return synthesize_template(context)


def sender_destinations(template: dict) -> dict[str, dict]:
    """The sender's destinations (its environment's JSON), by name, with the topics' ARNs left as tokens."""
    _, function = function_with_handler(template, SENDER_HANDLER)
    value = function["Environment"]["Variables"][DESTINATIONS_VARIABLE]
    text = "".join(part if isinstance(part, str) else "token" for part in value["Fn::Join"][1])
    return {each["name"]: each for each in json.loads(text)}


def test_each_format_but_a_plain_json_url_goes_through_the_sender_with_its_secret_ids(example):
    template, config = example
    destinations = sender_destinations(template)
    webhooks = {each["name"]: each for each in destinations.values() if each["kind"] == WEBHOOK}

    assert {each["format"] for each in webhooks.values()} == {"slack", "teams", "discord", "google_chat"}
    for webhook in config.webhook_list:
        if webhook.api_destination:
            assert webhook.name not in destinations
            continue
        sent = webhooks[webhook.name]
        assert (sent["target"], sent["url_is_secret"]) == (webhook.url_secret, True)


def test_the_sender_reads_exactly_the_secrets_of_its_webhooks(example):
    template, config = example
    role = function_with_handler(template, SENDER_HANDLER)[1]["Role"]["Fn::GetAtt"][0]
    _, policy = role_policy(template, role)
    (statement,) = [s for s in policy["PolicyDocument"]["Statement"] if "secretsmanager" in json.dumps(s["Action"])]
    tails = sorted(resource["Fn::Join"][1][-1] for resource in statement["Resource"])

    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert tails == sorted(f":secret:{w.url_secret}-??????" for w in config.webhook_list if not w.api_destination)


def test_a_secret_named_by_a_partial_arn_is_granted_with_its_suffix(starter_with_webhooks):
    granted = json.dumps(starter_with_webhooks)
    assert json.dumps(BY_ARN["url_secret"] + "-??????") in granted


def test_a_plain_json_url_is_an_api_destination_with_its_auth_header_from_a_secret(example):
    template, config = example
    (webhook,) = [w for w in config.webhook_list if w.api_destination]
    ((destination_id, destination),) = resources(template, "AWS::Events::ApiDestination").items()
    ((connection_id, connection),) = resources(template, "AWS::Events::Connection").items()

    assert destination["Properties"] | {"ConnectionArn": None} == {
        "ConnectionArn": None, "Description": f"Webhook {webhook.name}: Deadline status changes as they are",
        "HttpMethod": "POST", "InvocationEndpoint": webhook.url,
        "InvocationRateLimitPerSecond": INVOCATIONS_PER_SECOND,
    }  # fmt: skip
    assert destination["Properties"]["ConnectionArn"] == {"Fn::GetAtt": [connection_id, "Arn"]}
    assert connection["Properties"]["AuthorizationType"] == "API_KEY"
    assert connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"] == {
        "ApiKeyName": webhook.auth_header,
        "ApiKeyValue": f"{{{{resolve:secretsmanager:{webhook.auth_secret}:SecretString:::}}}}",
    }
    rule = next(r for r in resources(template, "AWS::Events::Rule").values()
                if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [destination_id, "Arn"]})  # fmt: skip
    (target,) = rule["Properties"]["Targets"]
    assert rule["Properties"]["EventPattern"] == webhook.pattern()
    assert target["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": RULE_MAX_EVENT_AGE.to_seconds(), "MaximumRetryAttempts": RULE_RETRY_ATTEMPTS
    }
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [DELIVERY_DEAD_LETTER_QUEUE.logical_id, "Arn"]}}
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    _, policy = role_policy(template, role_id)
    assert policy["PolicyDocument"]["Statement"] == [{
        "Action": "events:InvokeApiDestination", "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [destination_id, "ArnForPolicy"]},
    }]  # fmt: skip
    trust = template["Resources"][role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "events.amazonaws.com"}]


def test_the_dead_letter_queue_takes_the_api_destination_rules_failures(example):
    template, _ = example
    rules = [k for k, r in resources(template, "AWS::Events::Rule").items()
             if "RoleArn" in r["Properties"]["Targets"][0]]  # fmt: skip
    _, policy = policy_of(template, "AWS::SQS::QueuePolicy", DELIVERY_DEAD_LETTER_QUEUE.logical_id)
    allowed = [s["Condition"]["ArnEquals"]["aws:SourceArn"] for s in policy["PolicyDocument"]["Statement"]
               if s.get("Principal") == {"Service": "events.amazonaws.com"}]  # fmt: skip
    assert [{"Fn::GetAtt": [rule, "Arn"]} for rule in rules] in allowed


def test_a_tracker_without_auth_gets_the_fixed_studio_header(starter_with_webhooks):
    ((_, connection),) = resources(starter_with_webhooks, "AWS::Events::Connection").items()
    assert connection["Properties"]["AuthParameters"]["ApiKeyAuthParameters"] == {
        "ApiKeyName": STUDIO_HEADER, "ApiKeyValue": json.loads((PROJECT_ROOT / "studios" / "starter.json").read_text())["studio_name"]
    }


URL = re.compile(r"https?://[^\s\"']+")


@pytest.mark.parametrize("name", [EXAMPLE, "local-demo"])
def test_no_secret_is_in_the_template(studio_synthesis, name):
    template, config = studio_synthesis.studios[name].template, studio_synthesis.studios[name].config
    text = json.dumps(template)

    plain_urls = {webhook.url for webhook in config.webhook_list if webhook.url}
    urls = {url for url in URL.findall(text) if "amazonaws.com" not in url and "adaptivecards.io" not in url}
    assert urls == plain_urls
    assert set(re.findall(r"\{\{resolve:secretsmanager:([^:]+):", text)) <= config_secrets(config)
    for host in ("hooks.slack.com", "discord.com/api", "chat.googleapis.com", "logic.azure.com", "webhook.office.com"):
        assert host not in text


# The walk's model of webhooks: it fails where AWS would refuse, and raises where it cannot prove a path.


def walk(template: dict, config, secrets=None):
    return delivery_paths(template, config.stack_name, config_secrets(config) if secrets is None else secrets)


def test_the_walk_has_a_secret_read_per_secret_of_each_sender_webhook(example):
    template, config = example
    reads = [path.description for path in walk(template, config) if path.kind == SECRET_READ]
    assert len(reads) == sum(len(w.secrets) for w in config.webhook_list if not w.api_destination) > 0


def test_a_sender_without_its_secret_grant_fails_each_read(example):
    template, config = copy.deepcopy(example[0]), example[1]
    role = function_with_handler(template, SENDER_HANDLER)[1]["Role"]["Fn::GetAtt"][0]
    _, policy = role_policy(template, role)
    statements = policy["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s["Action"] != "secretsmanager:GetSecretValue"]

    found = [path for path in walk(template, config) if path.problems]
    assert {path.kind for path in found} == {SECRET_READ}
    assert all("may not secretsmanager:GetSecretValue" in p for path in found for p in path.problems)


def test_a_secret_the_config_does_not_name_cannot_be_proved(example):
    template, config = example
    with pytest.raises(WalkError, match="neither a resource of the stack nor a secret the config names"):
        walk(template, config, secrets=set())


def test_an_api_destination_rule_whose_role_may_not_invoke_it_fails(example):
    template, config = copy.deepcopy(example[0]), example[1]
    (destination_id,) = resources(template, "AWS::Events::ApiDestination")
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Action"] == "events:InvokeApiDestination":
                statement["Resource"] = "arn:aws:events:eu-west-1:123456789012:api-destination/another"

    found = list(problems(path for path in walk(template, config) if path.kind == RULE_TARGET))
    assert len(found) == 1 and destination_id in found[0] and "may not events:InvokeApiDestination" in found[0]


def test_a_rule_role_events_cannot_assume_cannot_be_proved(example):
    template = copy.deepcopy(example[0])
    for role in resources(template, "AWS::IAM::Role").values():
        if "invokes its API destination only" in role["Properties"]["Description"]:
            role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {"Service": "lambda.amazonaws.com"}
    with pytest.raises(WalkError, match=r"is not assumable by events\.amazonaws\.com"):
        walk(template, example[1])


def test_a_connection_resolving_a_secret_the_config_does_not_name_cannot_be_proved(example):
    template, config = example
    secrets = config_secrets(config) - {w.auth_secret for w in config.webhook_list if w.api_destination}
    with pytest.raises(WalkError, match=r"resolves .* a secret the config does not name"):
        walk(template, config, secrets=secrets)
