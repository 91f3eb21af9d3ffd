"""The stack with the repository's default configuration: every resource and property that matters.

Uses the session's one synthesis (tests/conftest.py: pipeline_template).
"""

from __future__ import annotations

import copy
import json

import pytest
from aws_cdk import aws_lambda as lambda_

from farm_health.failures import FILTER_PATTERN
from stacks.roles import FARM_HEALTH_HANDLER, PROCESSOR_HANDLER, PUBLISHER_HANDLER, SENDER_HANDLER
from tests.infrastructure.template_tools import (
    alarm_topic,
    alarm_topic_policy,
    alert_rule,
    as_list,
    assert_least_privilege,
    assert_matches_snapshot,
    cfn_lint_findings,
    event_source_mapping,
    function_with_handler,
    only,
    permissions_by_resource,
    producer_policy,
    resources,
    role_policy,
)

DAY = 86_400


@pytest.fixture(scope="module")
def template(pipeline_template) -> dict:
    return pipeline_template


def props(template: dict, logical_id: str) -> dict:
    return template["Resources"][logical_id]["Properties"]


def processor(template: dict) -> tuple[str, dict]:
    return function_with_handler(template, PROCESSOR_HANDLER)


def publisher(template: dict) -> tuple[str, dict]:
    return function_with_handler(template, PUBLISHER_HANDLER)


def role_id(function_props: dict) -> str:
    return function_props["Role"]["Fn::GetAtt"][0]


def log_group_id(function_props: dict) -> str:
    return function_props["LoggingConfig"]["LogGroup"]["Ref"]


PINNED = {
    "JobNotificationsTable": "AWS::DynamoDB::Table",
    "TaskNotificationsTable": "AWS::DynamoDB::Table",
    "NotificationQueue": "AWS::SQS::Queue",
    "NotificationDeadLetterQueue": "AWS::SQS::Queue",
    "StatusEventBus": "AWS::Events::EventBus",
    "StatusEventFailureQueue": "AWS::SQS::Queue",
    "NotificationHistoryTable": "AWS::DynamoDB::Table",  # on by default: failing_workers reads it
    "WorkerFailureTable": "AWS::DynamoDB::Table",
    "FarmHealthFailureQueue": "AWS::SQS::Queue",
    # The sender's (job_notifications is on by default); the topic holds the artists' subscriptions.
    "DeliveryQueue": "AWS::SQS::Queue",
    "DeliveryDeadLetterQueue": "AWS::SQS::Queue",
    "DeliveryStateTable": "AWS::DynamoDB::Table",
    "JobNotificationTopic": "AWS::SNS::Topic",
}
STATEFUL = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus", "AWS::Logs::LogGroup")


def test_stateful_resources_keep_their_pinned_logical_ids(template):
    assert {logical_id: template["Resources"][logical_id]["Type"] for logical_id in PINNED} == PINNED
    pinned_kinds = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus"}
    assert {k for k, r in template["Resources"].items() if r["Type"] in pinned_kinds} == {
        k for k, kind in PINNED.items() if kind in pinned_kinds
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


def test_every_queue_refuses_requests_without_tls(template):
    protected = {}
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        statement = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
        assert statement["Action"] == "sqs:*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for queue in policy["Properties"]["Queues"]:
            protected[queue["Ref"]] = statement["Resource"]
    assert protected == {
        queue: {"Fn::GetAtt": [queue, "Arn"]}
        for queue in (
            "NotificationQueue", "NotificationDeadLetterQueue", "StatusEventFailureQueue", "FarmHealthFailureQueue",
            "DeliveryQueue", "DeliveryDeadLetterQueue",
        )
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
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}  # for the publisher


def test_stateful_resources_are_retained_when_the_stack_is_deleted(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] in STATEFUL:
            assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), logical_id


def newest_python_runtime() -> str:
    names = [name for name in dir(lambda_.Runtime) if name.startswith("PYTHON_3_")]
    return getattr(lambda_.Runtime, max(names, key=lambda name: int(name.rsplit("_", 1)[1]))).name


@pytest.mark.parametrize(
    "handler, timeout, memory", [(PROCESSOR_HANDLER, 30, 256), (PUBLISHER_HANDLER, 30, 128)]
)
def test_each_function_runs_its_handler_on_the_newest_python_on_arm_with_its_own_role(template, handler, timeout, memory):
    function_id, function = function_with_handler(template, handler)
    assert function["Runtime"] == newest_python_runtime()
    assert function["Architectures"] == ["arm64"]
    assert (function["Timeout"], function["MemorySize"]) == (timeout, memory)
    assert template["Resources"][role_id(function)]["Type"] == "AWS::IAM::Role"
    assert template["Resources"][function_id]["DependsOn"] == [role_policy(template, role_id(function))[0]]


def test_both_functions_share_one_deployment_package(template):
    (_, processor_function), (_, publisher_function) = processor(template), publisher(template)
    assert processor_function["Code"] == publisher_function["Code"]


def test_function_environment_names_the_tables_the_clock_tolerance_and_the_metrics_namespace(template, pipeline_spec):
    _, function = processor(template)
    assert function["Environment"]["Variables"] == {
        "DYNAMODB_JOB_INFO_TABLE": {"Ref": "JobNotificationsTable"},
        "DYNAMODB_TASK_INFO_TABLE": {"Ref": "TaskNotificationsTable"},
        "DYNAMODB_HISTORY_TABLE": {"Ref": "NotificationHistoryTable"},
        "HISTORY_DAYS": "90",
        "METRICS_NAMESPACE": "DeadlineNotifications",
        "MAX_TIMESTAMP_AHEAD_SECONDS": "86400",
    }
    assert pipeline_spec.environment == {
        "HISTORY_DAYS": "90", "METRICS_NAMESPACE": "DeadlineNotifications", "MAX_TIMESTAMP_AHEAD_SECONDS": "86400"
    }


@pytest.mark.parametrize("handler", [PROCESSOR_HANDLER, PUBLISHER_HANDLER, FARM_HEALTH_HANDLER, SENDER_HANDLER])
def test_each_function_logs_json_to_its_own_log_group_with_explicit_retention(template, handler):
    _, function = function_with_handler(template, handler)
    assert function["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert function["LoggingConfig"]["LogFormat"] == "JSON"
    assert props(template, log_group_id(function))["RetentionInDays"] == 30
    assert len(resources(template, "AWS::Logs::LogGroup")) == len(resources(template, "AWS::Lambda::Function"))


def test_event_source_reports_item_failures_with_the_configured_batching(template, pipeline_spec):
    _, mapping = event_source_mapping(template, "NotificationQueue")
    assert mapping["FunctionName"] == {"Ref": processor(template)[0]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (100, 5)
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
    assert (pipeline_spec.batch_size, pipeline_spec.max_concurrency, pipeline_spec.max_receive_count) == (100, 5, 5)


def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(template):
    _, function = processor(template)
    _, mapping = event_source_mapping(template, "NotificationQueue")
    visibility = props(template, "NotificationQueue")["VisibilityTimeout"]
    assert visibility == 6 * function["Timeout"] + mapping["MaximumBatchingWindowInSeconds"] == 185


def test_every_iam_statement_is_least_privilege(template):
    assert_least_privilege(template)


def processor_statement(template: dict) -> dict:
    _, policy = role_policy(template, role_id(processor(template)[1]))
    return policy["PolicyDocument"]["Statement"][0]


def processor_role(template: dict) -> dict:
    return props(template, role_id(processor(template)[1]))


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


@pytest.mark.parametrize("handler", [PROCESSOR_HANDLER, PUBLISHER_HANDLER, FARM_HEALTH_HANDLER])
def test_each_role_is_the_functions_own_with_no_managed_policy(template, handler):
    role = props(template, role_id(function_with_handler(template, handler)[1]))
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Action"], trust["Principal"]) == ("sts:AssumeRole", {"Service": "lambda.amazonaws.com"})


def test_processor_may_do_exactly_what_the_handler_does(template):
    _, function = processor(template)
    policy_id, _ = role_policy(template, role_id(function))
    assert permissions_by_resource(template, policy_id) == {
        "NotificationQueue": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
        "JobNotificationsTable": TABLE_PERMISSIONS,
        "TaskNotificationsTable": TABLE_PERMISSIONS,
        "NotificationHistoryTable": {"dynamodb:PutItem", "dynamodb:PartiQLInsert"},
        log_group_id(function): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }


def test_publisher_reads_only_the_two_streams_and_puts_events_only_on_its_bus(template):
    _, function = publisher(template)
    policy_id, policy = role_policy(template, role_id(function))
    stream_actions = {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}
    assert permissions_by_resource(template, policy_id) == {
        None: {"dynamodb:ListStreams"},  # "*": IAM defines it on no resource, and its mappings need it
        "StatusEventBus": {"events:PutEvents"},
        "JobNotificationsTable": stream_actions,
        "TaskNotificationsTable": stream_actions,
        "StatusEventFailureQueue": {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        log_group_id(function): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }
    (streams,) = [s for s in policy["PolicyDocument"]["Statement"] if "dynamodb:GetRecords" in s["Action"]]
    assert streams["Resource"] == [
        {"Fn::GetAtt": [table, "StreamArn"]} for table in ("JobNotificationsTable", "TaskNotificationsTable")
    ]  # the streams, not the tables


def test_publisher_environment_names_the_bus_the_studio_what_to_publish_and_the_opt_out_field(template):
    _, function = publisher(template)
    assert function["Environment"]["Variables"] == {
        "EVENT_BUS_NAME": {"Ref": "StatusEventBus"},
        "STUDIO_NAME": "default",
        "PUBLISH": "status_changes",
        "NOTIFY_OPT_OUT_FIELD": "ExtraInfo9",
    }
    assert props(template, "StatusEventBus")["Name"] == "DeadlineNotifications-default"


@pytest.mark.parametrize("table", ["JobNotificationsTable", "TaskNotificationsTable"])
def test_each_stream_feeds_the_publisher_with_partial_failures_bounded_retries_and_a_failure_queue(template, table):
    _, mapping = event_source_mapping(template, table, "StreamArn")
    assert mapping["FunctionName"] == {"Ref": publisher(template)[0]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (20, 3600)
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["StatusEventFailureQueue", "Arn"]}}}
    assert "ParallelizationFactor" not in mapping  # one batch per shard at a time: in order per key


def test_the_failure_queue_is_encrypted_and_keeps_what_failed_for_two_weeks(template):
    queue = props(template, "StatusEventFailureQueue")
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * DAY
    assert queue["QueueName"] == "DeadlineNotifications-default-status-event-failures"


def test_failed_jobs_are_sent_to_the_alarm_topic_as_a_readable_line(template):
    rule_id, rule = alert_rule(template)
    assert rule["EventBusName"] == {"Ref": "StatusEventBus"}
    assert rule["EventPattern"] == {
        "source": ["deadline-sqs-notifications"],
        "detail-type": ["Deadline Job Status Change"],
        "detail": {"status": ["Failed"]},
    }
    topic_id, _ = alarm_topic(template)
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": topic_id}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["StatusEventFailureQueue", "Arn"]}}
    template_text = target["InputTransformer"]["InputTemplate"]
    assert template_text.startswith('"Deadline job <detail-jobName> (<detail-jobId>) of <detail-userName> is <detail-status>')
    from_this_rule = {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
    _, topic_policy = alarm_topic_policy(template)
    allowed = [s for s in topic_policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    (alarms,) = [s for s in allowed if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]  # it replaces SNS's default
    (rule,) = [s for s in allowed if s.get("Condition") == from_this_rule]  # the worker alerts' rule has its own
    assert (rule["Principal"], rule["Action"]) == ({"Service": "events.amazonaws.com"}, "sns:Publish")
    assert (alarms["Principal"], alarms["Action"]) == ({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish")
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    from_alarms = alarms["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(a["Fn::GetAtt"][0] for a in from_alarms) == sorted(resources(template, "AWS::CloudWatch::Alarm"))
    key = props(template, only(template, "AWS::KMS::Key")[0])
    services = [s for s in key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert [(s["Principal"]["Service"], s["Action"]) for s in services] == [
        (["cloudwatch.amazonaws.com", "events.amazonaws.com"], ["kms:Decrypt", "kms:GenerateDataKey"])
    ]


def test_producer_policy_only_sends_to_the_queue_and_is_attached_to_nothing(template):
    policy_id, policy = producer_policy(template)
    assert permissions_by_resource(template, policy_id) == {
        "NotificationQueue": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"}
    }
    assert not {"Roles", "Users", "Groups"} & set(policy)


def alarms_by_metric(template: dict) -> dict[str, dict]:
    return {alarm["Properties"]["MetricName"]: alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()}


def test_alarms_watch_dead_letters_message_age_errors_throttles_and_status_events(template):
    function_id, publisher_id = processor(template)[0], publisher(template)[0]
    check_id = function_with_handler(template, FARM_HEALTH_HANDLER)[0]

    def queue_dimension(queue):
        return [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]

    expected = {
        ("ApproximateNumberOfMessagesVisible", "NotificationDeadLetterQueue"): ("AWS/SQS", queue_dimension("NotificationDeadLetterQueue"), 0),
        ("ApproximateAgeOfOldestMessage", "NotificationQueue"): ("AWS/SQS", queue_dimension("NotificationQueue"), 600),
        ("Errors", function_id): ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": function_id}}], 0),
        ("Throttles", function_id): ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": function_id}}], 0),
        ("ApproximateNumberOfMessagesVisible", "StatusEventFailureQueue"): ("AWS/SQS", queue_dimension("StatusEventFailureQueue"), 0),
        ("IteratorAge", publisher_id): ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": publisher_id}}], 600_000),
        ("ApproximateNumberOfMessagesVisible", "FarmHealthFailureQueue"): ("AWS/SQS", queue_dimension("FarmHealthFailureQueue"), 0),
        ("IteratorAge", check_id): ("AWS/Lambda", [{"Name": "FunctionName", "Value": {"Ref": check_id}}], 600_000),
        ("ApproximateNumberOfMessagesVisible", "DeliveryDeadLetterQueue"): ("AWS/SQS", queue_dimension("DeliveryDeadLetterQueue"), 0),
    }
    alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    found = {
        (a["Properties"]["MetricName"], _watched(a["Properties"]["Dimensions"])): (
            a["Properties"]["Namespace"], a["Properties"]["Dimensions"], a["Properties"]["Threshold"]
        )
        for a in alarms
    }
    assert found == expected
    topic_id, _ = alarm_topic(template)
    for alarm in alarms:
        assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching"
        # every alarm has an action, when it fires and when it clears
        assert alarm["Properties"]["AlarmActions"] == alarm["Properties"]["OKActions"] == [{"Ref": topic_id}]
    assert not resources(template, "AWS::SNS::Subscription")  # no e-mail configured


def _watched(dimensions: list[dict]) -> str:
    (dimension,) = dimensions
    value = dimension["Value"]
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears_even_without_an_e_mail(template):
    topic_id, topic = alarm_topic(template)
    for logical_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        assert alarm["Properties"]["AlarmActions"] == alarm["Properties"]["OKActions"] == [{"Ref": topic_id}], logical_id
    assert template["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
    assert not resources(template, "AWS::SNS::Subscription")  # alarm_email is not set
    # CloudWatch may publish only through the topic's own key; the topic refuses plain HTTP.
    key = template["Resources"][topic["KmsMasterKeyId"]["Fn::GetAtt"][0]]["Properties"]
    assert key["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["KeyPolicy"]["Statement"] if "cloudwatch.amazonaws.com" in as_list(s["Principal"].get("Service", []))
    ]
    assert [s["Action"] for s in cloudwatch] == [["kms:Decrypt", "kms:GenerateDataKey"]]
    topic_policies = [p["Properties"]["PolicyDocument"]["Statement"] for p in resources(template, "AWS::SNS::TopicPolicy").values()]
    assert any(
        (s["Effect"], s.get("Condition")) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
        for statements in topic_policies for s in statements
    )


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
    function = f"{{Ref {processor(template)[0]}}}"
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


def test_outputs_give_what_deadline_the_operator_commands_and_rules_need(template):
    assert {key: output["Value"] for key, output in template["Outputs"].items()} == {
        "QueueUrl": {"Ref": "NotificationQueue"},
        "DeadLetterQueueUrl": {"Ref": "NotificationDeadLetterQueue"},
        "JobTableName": {"Ref": "JobNotificationsTable"},
        "TaskTableName": {"Ref": "TaskNotificationsTable"},
        "ProducerPolicyArn": {"Ref": producer_policy(template)[0]},
        "AlarmTopicArn": {"Ref": alarm_topic(template)[0]},
        "EventBusName": {"Ref": "StatusEventBus"},
        "EventBusArn": {"Fn::GetAtt": ["StatusEventBus", "Arn"]},
        "StatusEventFailureQueueUrl": {"Ref": "StatusEventFailureQueue"},
        "HistoryTableName": {"Ref": "NotificationHistoryTable"},
        "JobNotificationTopicArn": {"Ref": "JobNotificationTopic"},
        "JobNotificationStatuses": "Completed,Failed",
        "DeliveryQueueUrl": {"Ref": "DeliveryQueue"},
        "DeliveryDeadLetterQueueUrl": {"Ref": "DeliveryDeadLetterQueue"},
        "DeliveryStateTableName": {"Ref": "DeliveryStateTable"},
    }


def test_the_history_streams_its_new_entries_to_the_failing_worker_check_filtered_to_failed_tasks(template):
    assert props(template, "NotificationHistoryTable")["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    check_id, check = function_with_handler(template, FARM_HEALTH_HANDLER)
    _, mapping = event_source_mapping(template, "NotificationHistoryTable", "StreamArn")
    assert mapping["FunctionName"] == {"Ref": check_id}
    assert [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]] == [FILTER_PATTERN]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BisectBatchOnFunctionError"], mapping["MaximumRetryAttempts"], mapping["StartingPosition"]) == (
        True, 20, "TRIM_HORIZON"
    )  # fmt: skip
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FarmHealthFailureQueue", "Arn"]}}}
    assert check["Environment"]["Variables"] == {
        "WORKER_FAILURE_TABLE": {"Ref": "WorkerFailureTable"},
        "DYNAMODB_JOB_INFO_TABLE": {"Ref": "JobNotificationsTable"},
        "EVENT_BUS_NAME": {"Ref": "StatusEventBus"},
        "STUDIO_NAME": "default",
        "FAILING_WORKER_JOBS": "3",
        "FAILING_WORKER_MINUTES": "30",
    }


def test_the_failing_worker_check_reads_its_stream_keeps_its_state_reads_job_names_and_puts_events(template):
    _, function = function_with_handler(template, FARM_HEALTH_HANDLER)
    policy_id, _ = role_policy(template, role_id(function))
    assert permissions_by_resource(template, policy_id) == {
        None: {"dynamodb:ListStreams"},
        "NotificationHistoryTable": {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"},
        "WorkerFailureTable": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"},
        "JobNotificationsTable": {"dynamodb:BatchGetItem"},  # read only: the jobs' names
        "StatusEventBus": {"events:PutEvents"},
        "FarmHealthFailureQueue": {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
        log_group_id(function): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }


def test_the_state_table_is_keyed_by_worker_and_entry_expires_entries_and_is_kept_like_the_tables(template):
    table = template["Resources"]["WorkerFailureTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["TableName"] == "DeadlineWorkerFailures"
    assert properties["KeySchema"] == [{"AttributeName": "worker", "KeyType": "HASH"}, {"AttributeName": "entry", "KeyType": "RANGE"}]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST" and properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_failing_workers_are_sent_to_the_alarm_topic_as_a_readable_line(template):
    (rule_id,) = [logical_id for logical_id in resources(template, "AWS::Events::Rule") if logical_id.startswith("FarmHealth")]
    rule = props(template, rule_id)
    assert rule["EventPattern"] == {"source": ["deadline-sqs-notifications"], "detail-type": ["Deadline Worker Failing Tasks"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": alarm_topic(template)[0]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["FarmHealthFailureQueue", "Arn"]}}
    assert target["InputTransformer"]["InputTemplate"] == (
        '"Deadline worker <detail-workerName> is failing tasks (studio <detail-studio>): <detail-summary>"'
    )


def test_resources_are_tagged_with_the_studio(template):
    tagged = ["JobNotificationsTable", "NotificationQueue", processor(template)[0], "StatusEventBus"]
    for logical_id in tagged:
        assert {"Key": "Studio", "Value": "default"} in props(template, logical_id)["Tags"], logical_id


def test_template_matches_the_reviewed_snapshot(template):
    assert_matches_snapshot(template, "DeadlineNotifications-default")


def test_cfn_lint_reports_nothing(template):
    assert cfn_lint_findings(template) == []
