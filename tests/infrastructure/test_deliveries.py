"""The deliveries (issue 17) in the template: the artists' topic, the chat channels, the rules, DeliveryQueue,
the state table and the sender, each encrypted, TLS-only and least-privilege.

The defaults (one synthesis per session) and the studio files (studios/local-demo.json: a chat channel of
each kind, one with alarms; studios/example.json: the same under the customer managed key).
"""

from __future__ import annotations

import json

import pytest

from deliveries.destinations import DESTINATIONS_VARIABLE
from stacks.roles import SENDER_HANDLER
from stacks.synth import synthesize_template
from tests.infrastructure.template_tools import (
    alarm_topic,
    event_source_mapping,
    function_with_handler,
    permissions_by_resource,
    resources,
    role_policy,
    subscriptions,
)

DAY = 86_400
STATE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
QUEUE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


@pytest.fixture(scope="module")
def demo(studio_synthesis) -> dict:
    return studio_synthesis.studios["local-demo"].template


@pytest.fixture(scope="module")
def example(studio_synthesis) -> dict:
    return studio_synthesis.studios["example"].template


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def sender(template: dict) -> tuple[str, dict]:
    return function_with_handler(template, SENDER_HANDLER)


def rules_to_the_sender(template: dict) -> dict[str, dict]:
    return {
        k: v["Properties"] for k, v in resources(template, "AWS::Events::Rule").items()
        if v["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    }  # fmt: skip


def test_the_artists_topic_is_pinned_retained_encrypted_and_tls_only(pipeline_template):
    # It holds the subscriptions `deadline-sqs subscribe` made: a destroy or a replacement keeps it, as a table.
    resource = pipeline_template["Resources"]["JobNotificationTopic"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    topic = props(pipeline_template, "JobNotificationTopic")
    assert topic["TopicName"] == "DeadlineNotifications-default-job-notifications"
    assert topic["KmsMasterKeyId"] == "alias/aws/sns"
    (policy,) = [p["Properties"] for p in resources(pipeline_template, "AWS::SNS::TopicPolicy").values()
                 if p["Properties"]["Topics"] == [{"Ref": "JobNotificationTopic"}]]  # fmt: skip
    (deny,) = policy["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_the_artists_rule_wraps_each_job_change_into_the_statuses_for_the_sender(pipeline_template):
    (rule,) = rules_to_the_sender(pipeline_template).values()
    assert rule["Name"] == "deliver-artists"
    assert rule["EventPattern"] == {
        "source": ["deadline-sqs-notifications"],
        "detail-type": ["Deadline Job Status Change"],
        "detail": {"status": ["Completed", "Failed"], "test": [{"exists": False}]},
    }
    (target,) = rule["Targets"]
    assert target["InputTransformer"] == {"InputTemplate": '{"destination": "artists", "event": <aws.events.event.json>}'}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 20}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}}


def test_delivery_queue_is_encrypted_redrives_and_outlasts_the_sender(pipeline_template):
    queue, dead_letters = props(pipeline_template, "DeliveryQueue"), props(pipeline_template, "DeliveryDeadLetterQueue")
    assert queue["QueueName"] == "DeadlineNotifications-default-deliveries"
    assert dead_letters["QueueName"] == "DeadlineNotifications-default-delivery-failures"
    assert queue["SqsManagedSseEnabled"] and dead_letters["SqsManagedSseEnabled"]
    assert (queue["MessageRetentionPeriod"], dead_letters["MessageRetentionPeriod"]) == (4 * DAY, 14 * DAY)
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}, "maxReceiveCount": 5
    }
    _, function = sender(pipeline_template)
    assert queue["VisibilityTimeout"] == 6 * function["Timeout"]


def test_the_state_table_keys_each_destination_and_job_and_expires_its_items(pipeline_template):
    table = props(pipeline_template, "DeliveryStateTable")
    assert table["TableName"] == "DeadlineNotificationDeliveries"
    assert table["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_the_sender_reads_its_queue_in_small_batches_at_two_at_a_time(pipeline_template):
    function_id, function = sender(pipeline_template)
    _, mapping = event_source_mapping(pipeline_template, "DeliveryQueue")
    assert mapping["FunctionName"] == {"Ref": function_id}
    assert (mapping["BatchSize"], mapping["ScalingConfig"]) == (10, {"MaximumConcurrency": 2})
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    variables = function["Environment"]["Variables"]
    assert variables["DELIVERY_STATE_TABLE"] == {"Ref": "DeliveryStateTable"}
    assert variables["DELIVERY_LEASE_SECONDS"] == str(function["Timeout"])


def _destinations(function: dict) -> list[dict]:
    """DELIVERY_DESTINATIONS with each reference written as <logical id>."""
    value = function["Environment"]["Variables"][DESTINATIONS_VARIABLE]
    parts = value["Fn::Join"][1] if isinstance(value, dict) else [value]
    return json.loads("".join(part if isinstance(part, str) else f"<{part['Ref']}>" for part in parts))


def test_the_sender_knows_each_destination_by_its_topic_and_no_secret(pipeline_template, demo):
    assert _destinations(sender(pipeline_template)[1]) == [{
        "name": "artists", "kind": "artists", "target": "<JobNotificationTopic>", "format": "email",
        "url_is_secret": False, "auth_header": None, "auth_secret": None, "alarms": False,
    }]  # fmt: skip
    chats = [each for each in _destinations(sender(demo)[1]) if each["kind"] == "chat"]
    assert [(each["name"], each["format"], each["alarms"]) for each in chats] == [
        ("render-wranglers", "chat", True), ("lighting-dept", "chat", False)
    ]


@pytest.mark.parametrize("studio", ["default", "demo", "example"])
def test_the_sender_may_do_exactly_what_it_does(pipeline_template, demo, example, studio):
    template = {"default": pipeline_template, "demo": demo, "example": example}[studio]
    _, function = sender(template)
    policy_id, _ = role_policy(template, function["Role"]["Fn::GetAtt"][0])
    allowed = permissions_by_resource(template, policy_id)
    topics = {k for k in resources(template, "AWS::SNS::Topic") if k != alarm_topic(template)[0]}
    expected = {
        "DeliveryQueue": QUEUE_ACTIONS,
        "DeliveryStateTable": STATE_ACTIONS,
        **{topic: {"sns:Publish"} for topic in topics},
    }
    log_group = function["LoggingConfig"]["LogGroup"]["Ref"]
    if studio == "example":  # the stack's key: the queue's messages, the table, the topics; and tracing
        expected["QueuesKey15CDAF06"] = {"kms:Decrypt", "kms:GenerateDataKey"}
        expected[None] = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    if studio != "default":  # the webhooks' secrets, outside the stack (exactly which: test_webhooks_stack.py)
        expected[None] = expected.get(None, set()) | {"secretsmanager:GetSecretValue"}
    assert {k: v for k, v in allowed.items() if k != log_group} == expected


def test_each_chat_channel_has_its_own_topic_role_and_a_least_privilege_guardrail(demo):
    (slack,) = resources(demo, "AWS::Chatbot::SlackChannelConfiguration").values()
    (teams,) = resources(demo, "AWS::Chatbot::MicrosoftTeamsChannelConfiguration").values()
    slack, teams = slack["Properties"], teams["Properties"]
    assert (slack["SlackWorkspaceId"], slack["SlackChannelId"]) == ("T07EXAMPLE1", "C07EXAMPLE2")
    assert (teams["TeamsChannelId"], teams["TeamsTenantId"]) == (
        "19%3Aexample0channel0id%40thread.tacv2", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    )
    for configuration in (slack, teams):
        assert configuration["LoggingLevel"] == "ERROR"
        (topic,) = configuration["SnsTopicArns"]
        assert props(demo, topic["Ref"])["TopicName"].startswith("DeadlineNotifications-default-chat-")
        (guardrail,) = configuration["GuardrailPolicies"]
        statements = props(demo, guardrail["Ref"])["PolicyDocument"]["Statement"]
        assert [s["Action"] for s in statements] == ["sns:GetTopicAttributes"]
        role = props(demo, configuration["IamRoleArn"]["Fn::GetAtt"][0])
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "chatbot.amazonaws.com"}
        assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert slack["SnsTopicArns"] != teams["SnsTopicArns"]
    patterns = {rule["Name"]: rule["EventPattern"]["detail"] for rule in rules_to_the_sender(demo).values()}
    assert patterns["deliver-render-wranglers"] == {"status": ["Failed"], "test": [{"exists": False}]}


def test_a_channel_with_alarms_has_the_alarm_topic_delivered_to_the_sender(pipeline_template, demo):
    assert not subscriptions(pipeline_template, "sqs")
    (subscription,) = subscriptions(demo, "sqs").values()
    assert subscription["TopicArn"] == {"Ref": alarm_topic(demo)[0]}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
    assert subscription.get("RawMessageDelivery", False) is False  # the sender reads TopicArn and MessageId
    assert subscription["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}}


def test_job_notifications_off_and_no_channels_make_no_sender():
    template = synthesize_template({"job_notifications": "false"})
    assert not any("Deliver" in logical_id for logical_id in template["Resources"])
    assert "JobNotificationTopicArn" not in template["Outputs"]
