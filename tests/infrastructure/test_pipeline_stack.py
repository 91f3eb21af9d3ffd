"""The stack with the repository's default configuration: every resource and property that matters.

Uses the session's one synthesis (tests/conftest.py: pipeline_template).
"""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk import aws_lambda as lambda_

from tests.infrastructure.template_tools import (
    assert_least_privilege,
    assert_matches_snapshot,
    cfn_lint_findings,
    only,
    permissions_by_resource,
    resources,
)

DAY = 86_400


@pytest.fixture(scope="module")
def template(pipeline_template) -> dict:
    return pipeline_template


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def test_stateful_resources_keep_their_pinned_logical_ids(template):
    assert {
        logical_id: template["Resources"][logical_id]["Type"]
        for logical_id in ("JobNotificationsTable", "TaskNotificationsTable", "NotificationQueue", "NotificationDeadLetterQueue")
    } == {
        "JobNotificationsTable": "AWS::DynamoDB::Table",
        "TaskNotificationsTable": "AWS::DynamoDB::Table",
        "NotificationQueue": "AWS::SQS::Queue",
        "NotificationDeadLetterQueue": "AWS::SQS::Queue",
    }


def test_queue_is_standard_encrypted_and_redrives_to_the_dead_letter_queue(template):
    queue = props(template, "NotificationQueue")
    assert "FifoQueue" not in queue
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 4 * DAY
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["NotificationDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    assert queue["QueueName"] == "DeadlineNotifications-default-notifications"


def test_dead_letter_queue_keeps_messages_longer_and_accepts_only_this_queues_redrive(template):
    dead_letters = props(template, "NotificationDeadLetterQueue")
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert dead_letters["MessageRetentionPeriod"] == 14 * DAY
    policy = dead_letters["RedriveAllowPolicy"]
    assert policy["redrivePermission"] == "byQueue"
    (source_arn,) = policy["sourceQueueArns"]
    assert source_arn["Fn::Join"][1][-1] == ":" + props(template, "NotificationQueue")["QueueName"]
    assert "RedrivePolicy" not in dead_letters


def test_both_queues_refuse_requests_without_tls(template):
    protected = {}
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert statement["Action"] == "sqs:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for queue in policy["Properties"]["Queues"]:
            protected[queue["Ref"]] = statement["Resource"]
    assert protected == {
        "NotificationQueue": {"Fn::GetAtt": ["NotificationQueue", "Arn"]},
        "NotificationDeadLetterQueue": {"Fn::GetAtt": ["NotificationDeadLetterQueue", "Arn"]},
    }


@pytest.mark.parametrize(
    "logical_id, name, key_schema, attributes",
    [
        ("JobNotificationsTable", "DeadlineJobNotifications", [("job_id", "HASH")], [("job_id", "S")]),
        (
            "TaskNotificationsTable",
            "DeadlineTaskNotifications",
            [("job_id", "HASH"), ("task_id", "RANGE")],
            [("job_id", "S"), ("task_id", "N")],
        ),
    ],
)
def test_tables_have_the_documented_names_keys_and_durability(template, logical_id, name, key_schema, attributes):
    table = props(template, logical_id)
    assert table["TableName"] == name
    assert [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]] == key_schema
    assert [(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]] == attributes
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["DeletionProtectionEnabled"] is True


def test_stateful_resources_are_retained_when_the_stack_is_deleted(template):
    stateful = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup")
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in stateful:
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), logical_id


def newest_python_runtime() -> str:
    names = [name for name in dir(lambda_.Runtime) if name.startswith("PYTHON_3_")]
    return getattr(lambda_.Runtime, max(names, key=lambda name: int(name.rsplit("_", 1)[1]))).name


def test_function_runs_the_handler_on_the_newest_python_on_arm(template):
    function_id, function = only(template, "AWS::Lambda::Function")
    assert function["Handler"] == "lambda_function.main"
    assert function["Runtime"] == newest_python_runtime()
    assert function["Architectures"] == ["arm64"]
    assert (function["Timeout"], function["MemorySize"]) == (30, 256)
    assert function["Role"] == {"Fn::GetAtt": [only(template, "AWS::IAM::Role")[0], "Arn"]}
    assert template["Resources"][function_id]["DependsOn"] == [only(template, "AWS::IAM::Policy")[0]]


def test_function_environment_names_the_tables_the_clock_tolerance_and_the_metrics_namespace(template, pipeline_spec):
    _, function = only(template, "AWS::Lambda::Function")
    assert function["Environment"]["Variables"] == {
        "DYNAMODB_JOB_INFO_TABLE": {"Ref": "JobNotificationsTable"},
        "DYNAMODB_TASK_INFO_TABLE": {"Ref": "TaskNotificationsTable"},
        "METRICS_NAMESPACE": "DeadlineNotifications",
        "MAX_TIMESTAMP_AHEAD_SECONDS": "86400",
    }
    assert pipeline_spec.environment == {"METRICS_NAMESPACE": "DeadlineNotifications", "MAX_TIMESTAMP_AHEAD_SECONDS": "86400"}


def test_function_logs_json_to_its_own_log_group_with_explicit_retention(template):
    log_group_id, log_group = only(template, "AWS::Logs::LogGroup")
    _, function = only(template, "AWS::Lambda::Function")
    assert function["LoggingConfig"] == {
        "ApplicationLogLevel": "INFO",
        "LogFormat": "JSON",
        "LogGroup": {"Ref": log_group_id},
    }
    assert log_group["RetentionInDays"] == 30


def test_event_source_reports_item_failures_with_the_configured_batching(template, pipeline_spec):
    _, mapping = only(template, "AWS::Lambda::EventSourceMapping")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["NotificationQueue", "Arn"]}
    assert mapping["FunctionName"] == {"Ref": only(template, "AWS::Lambda::Function")[0]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (100, 5)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert (pipeline_spec.batch_size, pipeline_spec.max_concurrency, pipeline_spec.max_receive_count) == (100, 5, 5)


def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(template):
    _, function = only(template, "AWS::Lambda::Function")
    _, mapping = only(template, "AWS::Lambda::EventSourceMapping")
    visibility = props(template, "NotificationQueue")["VisibilityTimeout"]
    assert visibility == 6 * function["Timeout"] + mapping["MaximumBatchingWindowInSeconds"] == 185


def test_every_iam_statement_is_least_privilege(template):
    assert_least_privilege(template)


def processor_statement(template: dict) -> dict:
    _, policy = only(template, "AWS::IAM::Policy")
    return policy["PolicyDocument"]["Statement"][0]


def processor_role(template: dict) -> dict:
    return only(template, "AWS::IAM::Role")[1]


def queue_policy_statement(template: dict) -> dict:
    (policy,) = [
        policy["Properties"]
        for policy in resources(template, "AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [{"Ref": "NotificationQueue"}]
    ]
    return policy["PolicyDocument"]["Statement"][0]


# Each breaks least privilege in a copy of the template; the walk must notice.
ESCALATIONS = {
    "wildcard action": lambda t: processor_statement(t).update(Action="dynamodb:*"),
    "resource of another stack": lambda t: processor_statement(t).update(Resource="arn:aws:dynamodb:::table/Other"),
    "any resource": lambda t: processor_statement(t).update(Resource="*"),
    "NotAction": lambda t: processor_statement(t).update(NotAction="iam:*"),
    "AWS managed policy": lambda t: processor_role(t).update(ManagedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess"]),
    "inline policy": lambda t: processor_role(t).update(Policies=[]),
    "role any account may assume": lambda t: processor_role(t)["AssumeRolePolicyDocument"]["Statement"][0].update(
        Principal={"AWS": "*"}
    ),
    "policy type the walk does not read": lambda t: t["Resources"].update(
        Invoke={"Type": "AWS::Lambda::Permission", "Properties": {}}
    ),
    "queue policy allowing anyone": lambda t: queue_policy_statement(t).update(Effect="Allow", Condition={}),
}


@pytest.mark.parametrize("escalation", sorted(ESCALATIONS))
def test_the_least_privilege_walk_catches(template, escalation):
    changed = copy.deepcopy(template)
    ESCALATIONS[escalation](changed)
    with pytest.raises(AssertionError):
        assert_least_privilege(changed)


TABLE_PERMISSIONS = {"dynamodb:PutItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:DescribeTable"}


def test_processor_may_do_exactly_what_the_handler_does(template):
    role_id, role = only(template, "AWS::IAM::Role")
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Action"], trust["Principal"]) == ("sts:AssumeRole", {"Service": "lambda.amazonaws.com"})
    policy_id, policy = only(template, "AWS::IAM::Policy")
    assert policy["Roles"] == [{"Ref": role_id}]
    assert permissions_by_resource(template, policy_id) == {
        "NotificationQueue": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        "JobNotificationsTable": TABLE_PERMISSIONS,
        "TaskNotificationsTable": TABLE_PERMISSIONS,
        only(template, "AWS::Logs::LogGroup")[0]: {"logs:CreateLogStream", "logs:PutLogEvents"},
    }


def test_producer_policy_only_sends_to_the_queue_and_is_attached_to_nothing(template):
    policy_id, policy = only(template, "AWS::IAM::ManagedPolicy")
    assert permissions_by_resource(template, policy_id) == {
        "NotificationQueue": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"}
    }
    assert not {"Roles", "Users", "Groups"} & set(policy)


def alarms_by_metric(template: dict) -> dict[str, dict]:
    return {alarm["Properties"]["MetricName"]: alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()}


def test_alarms_watch_dead_letters_message_age_errors_and_throttles(template):
    function_id = only(template, "AWS::Lambda::Function")[0]
    queue_dimension = [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotificationQueue", "QueueName"]}}]
    expected = {
        "ApproximateNumberOfMessagesVisible": (
            "AWS/SQS",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotificationDeadLetterQueue", "QueueName"]}}],
            0,
        ),
        "ApproximateAgeOfOldestMessage": ("AWS/SQS", queue_dimension, 600),
        "Errors": ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": function_id}}], 0),
        "Throttles": ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": function_id}}], 0),
    }
    alarms = alarms_by_metric(template)
    assert {name: (a["Namespace"], a["Dimensions"], a["Threshold"]) for name, a in alarms.items()} == expected
    for alarm in alarms.values():
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert "AlarmActions" not in alarm  # no e-mail configured
    assert not resources(template, "AWS::SNS::Topic")


def dashboard_metrics(template: dict) -> dict[str, list[tuple]]:
    """Widget title -> its metrics as (namespace, name, dimension, value), references shown as {Ref id}."""
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")

    def render(part) -> str:
        if isinstance(part, str):
            return part
        if "Ref" in part:
            return "{{Ref {}}}".format(part["Ref"])
        return "{{{}.{}}}".format(*tuple(part["Fn::GetAtt"]))

    body = json.loads("".join(render(part) for part in dashboard["DashboardBody"]["Fn::Join"][1]))
    return {
        widget["properties"]["title"]: [tuple(metric[:4]) for metric in widget["properties"].get("metrics", [])]
        for widget in body["widgets"]
    }


def test_dashboard_graphs_queue_dead_letters_function_and_processor_counts(template):
    function = "{{Ref {}}}".format(only(template, "AWS::Lambda::Function")[0])
    queue = "{NotificationQueue.QueueName}"
    graphs = dashboard_metrics(template)
    assert graphs["Processor notifications"] == [
        ("DeadlineNotifications", name, "FunctionName", function)
        for name in ("Received", "Stored", "Duplicate", "Stale", "Invalid", "Failed")
    ]
    assert graphs["Dead-letter queue"] == [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "{NotificationDeadLetterQueue.QueueName}")
    ]
    assert graphs["Queue"] == [
        ("AWS/SQS", name, "QueueName", queue)
        for name in ("NumberOfMessagesSent", "NumberOfMessagesDeleted", "ApproximateNumberOfMessagesVisible")
    ]
    assert graphs["Oldest message age (seconds)"] == [("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue)]
    assert graphs["Processor invocations"] == [
        ("AWS/Lambda", name, "FunctionName", function) for name in ("Invocations", "Errors", "Throttles")
    ]
    assert graphs["Processor duration (ms)"] == [("AWS/Lambda", "Duration", "FunctionName", function)]
    assert graphs["Alarms"] == []
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    assert dashboard["DashboardName"]["Fn::Join"][1] == ["DeadlineNotifications-default-", {"Ref": "AWS::Region"}]


def test_outputs_give_what_deadline_and_the_operator_commands_need(template):
    assert {key: output["Value"] for key, output in template["Outputs"].items()} == {
        "QueueUrl": {"Ref": "NotificationQueue"},
        "DeadLetterQueueUrl": {"Ref": "NotificationDeadLetterQueue"},
        "JobTableName": {"Ref": "JobNotificationsTable"},
        "TaskTableName": {"Ref": "TaskNotificationsTable"},
        "ProducerPolicyArn": {"Ref": only(template, "AWS::IAM::ManagedPolicy")[0]},
    }


def test_resources_are_tagged_with_the_studio(template):
    tagged = ["JobNotificationsTable", "NotificationQueue", only(template, "AWS::Lambda::Function")[0]]
    for logical_id in tagged:
        assert {"Key": "Studio", "Value": "default"} in props(template, logical_id)["Tags"], logical_id


def test_template_matches_the_reviewed_snapshot(template):
    assert_matches_snapshot(template, "DeadlineNotifications-default")


def test_cfn_lint_reports_nothing(template):
    assert cfn_lint_findings(template) == []
