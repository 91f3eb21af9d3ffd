"""The delivery-path walk (delivery_paths.py) over the defaults and every studio config: each path
by which a service or a principal reaches a resource of the stack is allowed where AWS enforces it.
And the walk can fail: a kept fixture (the alarm topic as it was before issue 15), broken copies of
real templates that AWS would refuse, and copies with what the walk cannot prove, which must raise."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import pytest

from notification_processor.roles import JOB
from stacks.config import StudioConfig, load_config, project_context
from stacks.roles import (
    DEAD_LETTER_QUEUE,
    FARM_HEALTH_HANDLER,
    HISTORY_TABLE,
    PIPELINE_KEY_LOGICAL_ID,
    PROCESSOR_HANDLER,
    PUBLISH_FAILURE_QUEUE,
    PUBLISHER_HANDLER,
    TABLES,
    WORKER_FAILURE_TABLE_LOGICAL_ID,
)
from tests.infrastructure.delivery_paths import (
    ALARM_ACTION,
    CHAT_CHANNEL,
    DELIVERY_DESTINATION,
    DELIVERY_LOGS,
    DELIVERY_SCHEMA,
    EMPTY_ON_DESTROY,
    ENVIRONMENT,
    EVENT_SOURCE,
    FUNCTION_LOGS,
    LIST_STREAMS,
    LOG_GROUP_KEY,
    ON_FAILURE,
    PATH_KINDS,
    PRODUCER,
    RULE_DEAD_LETTERS,
    RULE_TARGET,
    SECRET_READ,
    SUBSCRIPTION,
    SUBSCRIPTION_DEAD_LETTERS,
    TABLE_KEY,
    TABLE_KEY_ACTIONS,
    WalkError,
    delivery_paths,
    problems,
)
from tests.infrastructure.studio_configs import studio_contexts
from tests.infrastructure.template_tools import (
    alarm_topic,
    alarm_topic_policy,
    alert_rule,
    as_list,
    config_secrets,
    function_with_handler,
    only,
    resources,
    role_policy,
)

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_STACK = "DeadlineNotifications-default"
CONFIGS = ["default", *sorted(studio_contexts())]


@pytest.fixture(scope="module")
def templates(pipeline_template, studio_synthesis) -> dict[str, tuple[dict, StudioConfig]]:
    """Each config's template and config: the defaults (cdk.json) and every studio."""
    found = {"default": (pipeline_template, load_config(project_context()))}
    for name, studio in studio_synthesis.studios.items():
        found[name] = (studio.template, studio.config)
    return found


@pytest.mark.parametrize("config", CONFIGS)
def test_every_delivery_path_is_allowed(templates, config):
    template, studio = templates[config]
    paths = delivery_paths(template, studio.stack_name, config_secrets(studio))
    requests = sum(path.requests for path in paths)
    print(f"delivery paths of {config}: {len(paths)} paths, {requests} requests")
    assert paths, f"{config}: the walk found no delivery path"
    assert list(problems(paths)) == []


# The broken copies below are of several studios' templates: the walk is told of every studio's secrets.
STUDIO_SECRETS = set().union(
    *(config_secrets(load_config({**project_context(), **context})) for context in studio_contexts().values())
)


def expected_path_kinds(config: StudioConfig) -> dict[str, int]:
    """How many paths of each kind a config's stack has, from its settings: a kind that went
    missing (no event source mapping, no log group key) fails, whatever the total."""
    events, alerts = config.status_events, config.status_events and bool(config.alert_status_list)
    workers = bool(config.failing_workers)  # the failing-worker check, and its alert rule
    worker_alerts = workers and bool(config.alert_failing_workers)
    reports = config.reports  # the archiver, Firehose and the bucket
    emptied = reports and config.sandbox  # CDK's provider empties the sandbox's bucket on destroy
    # The sender's destinations: the artists' topic and each chat channel's (issue 17).
    topics = events * (config.job_notifications + len(config.chat_channels))
    # Webhooks: a rule each (to the sender, or to its API destination); the sender reads their secrets.
    webhook_rules = events * len(config.webhooks)
    secret_reads = events * sum(len(webhook.secrets) for webhook in config.webhook_list if not webhook.api_destination)
    sender = topics + webhook_rules > 0
    chat_alarms = sender and any(channel.alarms for channel in config.chat_channel_list)
    functions = 1 + events + workers + reports + sender  # the processor, the publisher, the check, the archiver, the sender
    rules = alerts + worker_alerts + topics + webhook_rules
    return {
        # ALARM and OK of 4 alarms, the publisher's 2, the check's 2, the archive's 6, the sender's DLQ's
        ALARM_ACTION: 2 * (4 + 2 * events + 2 * workers + 6 * reports + sender),
        RULE_TARGET: rules,
        RULE_DEAD_LETTERS: rules,
        # the queue, each table's stream, the history's stream (the check's, the archiver's), DeliveryQueue
        EVENT_SOURCE: 1 + 2 * events + workers + reports + sender,
        ON_FAILURE: 2 * events + workers + reports,
        PRODUCER: 1,
        # the tables (and the history), the bus; the check's state, job table (read) and bus; Firehose;
        # the sender's state table and topics
        ENVIRONMENT: 2 + config.history + events + 3 * workers + reports + sender + topics,
        # the processor's tables; the check's state and job table; the sender's state table
        TABLE_KEY: 2 + config.history + 2 * workers + sender if config.customer_managed_key else 0,
        FUNCTION_LOGS: functions + emptied,  # and the provider's, to Lambda's default log group
        LOG_GROUP_KEY: functions + reports if config.customer_managed_key else 0,  # and Firehose's log group
        DELIVERY_DESTINATION: 2 * reports,  # Firehose's prefix and its error prefix
        DELIVERY_SCHEMA: reports,
        DELIVERY_LOGS: reports,
        EMPTY_ON_DESTROY: emptied,
        SUBSCRIPTION: chat_alarms,  # the alarm topic -> DeliveryQueue
        SUBSCRIPTION_DEAD_LETTERS: chat_alarms,
        CHAT_CHANNEL: events * len(config.chat_channels),
        SECRET_READ: secret_reads,
    }


def test_each_config_has_every_kind_of_path_its_settings_make_and_sums_them_up(templates, capsys):
    counts = {}
    for config in CONFIGS:
        template, studio = templates[config]
        paths = delivery_paths(template, studio.stack_name, config_secrets(studio))
        counts[config] = len(paths)
        found = Counter(path.kind for path in paths)
        assert {kind: found[kind] for kind in PATH_KINDS} == expected_path_kinds(studio), config
    with capsys.disabled():
        print("\ndelivery paths per config: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    # one config has every kind, but the sandbox's emptying on destroy
    assert all(count for kind, count in expected_path_kinds(templates["example"][1]).items() if kind != EMPTY_ON_DESTROY)
    assert expected_path_kinds(templates["example-sandbox"][1])[EMPTY_ON_DESTROY]


def test_the_alarm_topic_as_it_was_before_fails_naming_the_alarm_the_topic_and_the_missing_statement():
    fixture = json.loads((FIXTURES / "alarm-topic-without-cloudwatch.json").read_text())
    found = list(problems(delivery_paths(fixture, DEFAULT_STACK)))
    assert len(found) == 2  # the alarm's ALARM and OK actions
    first = found[0]
    assert first.startswith("alarm MonitoringDeadLetterAlarmC2330FE2 (AlarmActions) -> topic MonitoringAlarmTopicAF62D4F1:")
    assert "cloudwatch.amazonaws.com may not sns:Publish" in first
    assert "topic policy MonitoringAlarmTopicPolicyCB9CCFB0 (which replaces SNS's default policy)" in first


def _broken(templates, config: str) -> tuple[dict, str]:
    template, studio = templates[config]
    return copy.deepcopy(template), studio.stack_name


def _problems(template: dict, stack_name: str) -> list[str]:
    return list(problems(delivery_paths(template, stack_name, STUDIO_SECRETS)))


def test_a_topic_under_the_aws_managed_sns_key_fails(templates):
    template, stack_name = _broken(templates, "default")
    topic_id, topic = alarm_topic(template)
    topic["KmsMasterKeyId"] = "alias/aws/sns"
    found = _problems(template, stack_name)
    assert found and all("alias/aws/sns" in problem and topic_id in problem for problem in found)


def test_a_rule_dead_letter_queue_without_its_eventbridge_statement_fails(templates):
    template, stack_name = _broken(templates, "default")
    statements = _statements(template, "AWS::SQS::QueuePolicy", PUBLISH_FAILURE_QUEUE.logical_id)
    statements[:] = [s for s in statements if "Service" not in s["Principal"]]
    (found,) = _problems(template, stack_name)
    assert f"dead-letter queue {PUBLISH_FAILURE_QUEUE.logical_id}" in found
    assert "events.amazonaws.com may not sqs:SendMessage" in found


def test_a_stream_mapping_role_without_list_streams_fails(templates):
    template, stack_name = _broken(templates, "default")
    role_id = function_with_handler(template, PUBLISHER_HANDLER)[1]["Role"]["Fn::GetAtt"][0]
    document = role_policy(template, role_id)[1]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if LIST_STREAMS not in as_list(s["Action"])]
    found = _problems(template, stack_name)
    assert len(found) == 2  # each table's stream mapping
    assert all(f"may not {LIST_STREAMS}" in problem and "event source mapping" in problem for problem in found)


def test_a_log_group_its_key_condition_does_not_match_fails(templates):
    template, stack_name = _broken(templates, "example")
    log_group_id, log_group = next(iter(resources(template, "AWS::Logs::LogGroup").items()))
    log_group["Properties"]["LogGroupName"] = "/studio/elsewhere"
    (found,) = [problem for problem in _problems(template, stack_name) if "kms:Encrypt" in problem]
    assert f"log group {log_group_id} (named /studio/elsewhere) -> key {PIPELINE_KEY_LOGICAL_ID}" in found
    assert "logs.eu-west-1.amazonaws.com may not kms:Encrypt" in found


def test_an_unknown_condition_operator_fails_the_walk_loudly(templates):
    template, stack_name = _broken(templates, "default")
    _, policy = alarm_topic_policy(template)
    statement = next(s for s in policy["PolicyDocument"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    statement["Condition"]["DateGreaterThan"] = {"aws:CurrentTime": "2026-01-01T00:00:00Z"}
    with pytest.raises(WalkError, match="DateGreaterThan"):
        delivery_paths(template, stack_name, STUDIO_SECRETS)


# --- broken copies the walk must fail: what AWS would refuse ---------------------------------


def _statements(template: dict, policy_type: str, attached_to: str) -> list[dict]:
    """The statements of the one policy of ``policy_type`` on a queue or topic (they may be edited)."""
    key = {"AWS::SQS::QueuePolicy": "Queues", "AWS::SNS::TopicPolicy": "Topics"}[policy_type]
    (policy,) = [p for p in resources(template, policy_type).values() if {"Ref": attached_to} in p["Properties"][key]]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _topic_statements(template: dict) -> list[dict]:
    return _statements(template, "AWS::SNS::TopicPolicy", alarm_topic(template)[0])


def _service_statements(statements: list[dict], service: str) -> list[dict]:
    """The statements allowing ``service``: one for CloudWatch, one per rule for EventBridge."""
    return [s for s in statements if s["Effect"] == "Allow" and s["Principal"] == {"Service": service}]


def _alarms(template: dict) -> list[str]:
    return sorted(resources(template, "AWS::CloudWatch::Alarm"))


def test_a_topic_policy_that_misses_one_alarm_fails_for_that_alarm_only(templates):
    template, stack_name = _broken(templates, "default")
    (statement,) = _service_statements(_topic_statements(template), "cloudwatch.amazonaws.com")
    condition = statement["Condition"]
    missed = condition["ArnEquals"]["aws:SourceArn"].pop(0)["Fn::GetAtt"][0]
    found = _problems(template, stack_name)
    assert len(found) == 2 and all(problem.startswith(f"alarm {missed} (") for problem in found)  # its ALARM and OK


@pytest.mark.parametrize(
    ("service", "condition", "failing"),
    [
        # another account's alarms: every alarm action fails
        ("cloudwatch.amazonaws.com", {"StringEquals": {"aws:SourceAccount": "210987654321"}}, ALARM_ACTION),
        # another alarm's ARN where the rules' should be: the job alerts and the worker alerts fail
        ("events.amazonaws.com", {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["MonitoringDeadLetterAlarmC2330FE2", "Arn"]}}},
         RULE_TARGET),
        # another rule's
        ("events.amazonaws.com", {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/other-stack-*"}}, RULE_TARGET),
    ],
)  # fmt: skip
def test_a_topic_policy_conditioned_on_another_source_fails(templates, service, condition, failing):
    template, stack_name = _broken(templates, "default")
    for statement in _service_statements(_topic_statements(template), service):
        statement["Condition"] = condition
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    failed = {path.kind for path in paths if path.problems}
    assert failed == {failing}
    to_the_topic = [path for path in paths if path.kind == failing and alarm_topic(template)[0] in path.description]
    assert to_the_topic and all(path.problems for path in to_the_topic)


@pytest.mark.parametrize("principal", [{"Service": "events.amazonaws.com"}, "*"])
def test_an_explicit_deny_on_a_path_fails_it(templates, principal):
    template, stack_name = _broken(templates, "default")
    statements = _statements(template, "AWS::SQS::QueuePolicy", PUBLISH_FAILURE_QUEUE.logical_id)
    statements.append({"Sid": "NoEvents", "Effect": "Deny", "Principal": principal, "Action": "sqs:SendMessage",
                       "Resource": {"Fn::GetAtt": [PUBLISH_FAILURE_QUEUE.logical_id, "Arn"]}})  # fmt: skip
    found = _problems(template, stack_name)
    assert found and all("explicitly denied by StatusEventsFailureQueuePolicy" in problem and "(NoEvents)" in problem for problem in found)
    # The rule's dead letters, and with Principal "*" the publisher's on-failure deliveries too.
    assert len(found) == (1 if principal != "*" else 3)


def test_a_deny_on_the_calling_service_fails_every_path_it_names(templates):
    template, stack_name = _broken(templates, "default")
    _topic_statements(template).append(
        {"Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"}}}
    )  # fmt: skip
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    assert {path.kind for path in paths if path.problems} == {ALARM_ACTION}


@pytest.mark.parametrize(
    ("deny", "message"),
    [
        ({"NotPrincipal": {"Service": "events.amazonaws.com"}}, "NotPrincipal"),
        ({"Principal": "*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc"}}}, "StringNotEquals"),
        ({"Principal": "*", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}, "aws:PrincipalOrgID"),
    ],
)
def test_a_deny_the_walk_cannot_evaluate_fails_it_loudly(templates, deny, message):
    template, stack_name = _broken(templates, "default")
    _topic_statements(template).append({"Effect": "Deny", "Action": "sns:Publish", "Resource": "*", **deny})
    with pytest.raises(WalkError, match=message):
        delivery_paths(template, stack_name, STUDIO_SECRETS)


@pytest.mark.parametrize(
    "account_statement",
    [
        None,  # removed: IAM policies on the key count for nothing
        {"Condition": {"StringEquals": {"kms:CallerAccount": "210987654321"}}},  # another account's callers only
    ],
)
def test_a_key_policy_that_does_not_delegate_to_iam_fails_every_role_on_it(templates, account_statement):
    template, stack_name = _broken(templates, "example")
    statements = template["Resources"][PIPELINE_KEY_LOGICAL_ID]["Properties"]["KeyPolicy"]["Statement"]
    (root,) = [s for s in statements if s["Action"] == "kms:*"]
    if account_statement is None:
        statements.remove(root)
    else:
        root.update(account_statement)
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    # The processor, the publisher, the archiver and the sender read their sources, the processor and the sender
    # write their tables, the sender publishes to its topics, the producer sends and Firehose writes the archive,
    # each with the key (the on-failure queues have SQS's own). CloudWatch Logs has its own statement: the log
    # groups' keys still pass.
    assert {path.kind for path in paths if path.problems} == {EVENT_SOURCE, PRODUCER, TABLE_KEY, DELIVERY_DESTINATION, ENVIRONMENT}
    assert all("nor delegates to IAM" in problem for problem in problems(paths))


@pytest.mark.parametrize(
    ("handler", "failing"),
    [
        # its queue's messages, and each table it writes (the job, task and history tables)
        (PROCESSOR_HANDLER, {EVENT_SOURCE: 1, TABLE_KEY: 3}),
        # each table's stream records, encrypted with the table's key
        (PUBLISHER_HANDLER, {EVENT_SOURCE: 2}),
        # the history's stream records, its state table and the job table it reads names from
        (FARM_HEALTH_HANDLER, {EVENT_SOURCE: 1, TABLE_KEY: 2}),
    ],
)
def test_a_role_without_the_tables_key_permission_fails_naming_the_function_the_table_and_the_key(
    templates, handler, failing
):
    tables = {
        PROCESSOR_HANDLER: [*(table.logical_id for table in TABLES.values()), HISTORY_TABLE.logical_id],
        PUBLISHER_HANDLER: [],
        FARM_HEALTH_HANDLER: [TABLES[JOB].logical_id, WORKER_FAILURE_TABLE_LOGICAL_ID],
    }[handler]
    template, stack_name = _broken(templates, "example")
    function_id, function = function_with_handler(template, handler)
    document = role_policy(template, function["Role"]["Fn::GetAtt"][0])[1]["PolicyDocument"]
    document["Statement"] = [s for s in document["Statement"] if as_list(s["Action"]) != list(TABLE_KEY_ACTIONS)]
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    assert Counter(path.kind for path in paths if path.problems) == failing
    found = [problem for path in paths if path.kind == TABLE_KEY for problem in path.problems]
    assert sorted(problem.split(":")[0] for problem in found) == [
        f"function {function_id} -> table {table} under key {PIPELINE_KEY_LOGICAL_ID}" for table in sorted(tables)
    ]
    assert all(
        "may not kms:Decrypt: no identity policy of role" in problem and f"kms:Decrypt on {PIPELINE_KEY_LOGICAL_ID}" in problem
        for problem in problems(paths)
    )


def test_a_table_whose_items_the_role_neither_reads_nor_writes_has_no_key_path(templates):
    template, stack_name = _broken(templates, "example")
    _role_statement(template, PROCESSOR_HANDLER, "dynamodb:DescribeTable")["Action"] = "dynamodb:DescribeTable"
    function_id, _ = function_with_handler(template, PROCESSOR_HANDLER)
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    assert [path.description for path in paths if path.kind == TABLE_KEY and function_id in path.description] == [
        f"function {function_id} -> table {HISTORY_TABLE.logical_id} under key {PIPELINE_KEY_LOGICAL_ID}"
    ]


def _role_statement(template: dict, handler: str, action: str) -> dict:
    role_id = function_with_handler(template, handler)[1]["Role"]["Fn::GetAtt"][0]
    (statement,) = [s for s in role_policy(template, role_id)[1]["PolicyDocument"]["Statement"] if action in as_list(s["Action"])]
    return statement


@pytest.mark.parametrize(
    ("handler", "action", "resource", "failing"),
    [
        # another queue's ARN
        (PROCESSOR_HANDLER, "sqs:ReceiveMessage", {"Fn::GetAtt": [DEAD_LETTER_QUEUE.logical_id, "Arn"]}, 1),
        # the tables' ARNs instead of their StreamArns
        (PUBLISHER_HANDLER, "dynamodb:GetRecords", [{"Fn::GetAtt": [t.logical_id, "Arn"]} for t in TABLES.values()], 2),
        # IAM's wildcards are * and ? only: "[s]" is no character class
        (PROCESSOR_HANDLER, "sqs:ReceiveMessage",
         {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:DeadlineNotifications-default-notification[s]"}, 1),
    ],
)  # fmt: skip
def test_an_identity_policy_on_the_wrong_resource_fails(templates, handler, action, resource, failing):
    template, stack_name = _broken(templates, "default")
    _role_statement(template, handler, action)["Resource"] = resource
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    assert [path.kind for path in paths if path.problems] == [EVENT_SOURCE] * failing


@pytest.mark.parametrize(
    "resource",
    [
        {"Fn::Sub": "${NotificationQueue.Arn}"},
        {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:DeadlineNotifications-default-notification?"},
        {"Fn::Sub": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${Name}",
                     {"Name": "DeadlineNotifications-default-notifications"}]},
    ],
)  # fmt: skip
def test_an_identity_policy_resource_written_with_fn_sub_is_read(templates, resource):
    template, stack_name = _broken(templates, "default")
    _role_statement(template, PROCESSOR_HANDLER, "sqs:ReceiveMessage")["Resource"] = resource
    assert _problems(template, stack_name) == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}, "events.amazonaws.com may not kms:"),
        ("alias/aws/sqs", "AWS managed key alias/aws/sqs"),
    ],
)
def test_a_rule_dead_letter_queue_under_a_key_eventbridge_cannot_use_fails(templates, key, message):
    template, stack_name = _broken(templates, "example")
    queue = template["Resources"][PUBLISH_FAILURE_QUEUE.logical_id]["Properties"]
    del queue["SqsManagedSseEnabled"]
    queue["KmsMasterKeyId"] = key
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    (dead_letters,) = [
        path for path in paths if path.kind == RULE_DEAD_LETTERS and PUBLISH_FAILURE_QUEUE.logical_id in path.description
    ]
    assert dead_letters.problems and all(message in problem for problem in dead_letters.problems)


def test_the_log_group_key_condition_must_not_match_another_stacks_log_groups(templates):
    template, stack_name = _broken(templates, "example")
    statements = template["Resources"][PIPELINE_KEY_LOGICAL_ID]["Properties"]["KeyPolicy"]["Statement"]
    (logs,) = [s for s in statements if "logs." in json.dumps(s["Principal"])]
    logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] = f"arn:aws:logs:*:*:log-group:{stack_name}-*"
    found = _problems(template, stack_name)
    assert len(found) == len([g for g in resources(template, "AWS::Logs::LogGroup").values() if "KmsKeyId" in g["Properties"]])
    assert all(f"for {stack_name}-sandbox-" in problem and "a log group of another stack" in problem for problem in found)


# --- what the walk cannot prove fails it, never passes silently ------------------------------


def _topic_id(template: dict) -> str:
    return alarm_topic(template)[0]


def _imported_alarm_topic(template: dict) -> None:
    alarm = template["Resources"][_alarms(template)[0]]["Properties"]
    alarm["AlarmActions"] = ["arn:aws:sns:eu-west-1:123456789012:a-topic-of-another-stack"]


def _imported_dead_letters(template: dict) -> None:  # the job alerts' rule
    _, rule = alert_rule(template)
    rule["Targets"][0]["DeadLetterConfig"]["Arn"] = "arn:aws:sqs:eu-west-1:123456789012:elsewhere"


def _imported_mapping_source(template: dict) -> None:
    mapping = next(iter(resources(template, "AWS::Lambda::EventSourceMapping").values()))
    mapping["Properties"]["EventSourceArn"] = "arn:aws:sqs:eu-west-1:123456789012:elsewhere"


def _topic_policy_by_arn(template: dict) -> None:
    _, policy = alarm_topic_policy(template)
    policy["Topics"] = ["arn:aws:sns:eu-west-1:123456789012:the-alarm-topic"]


def _second_topic_policy(template: dict) -> None:
    template["Resources"]["AnotherTopicPolicy"] = {
        "Type": "AWS::SNS::TopicPolicy",
        "Properties": {"Topics": [{"Ref": _topic_id(template)}], "PolicyDocument": {"Statement": []}},
    }


def _added(resource_type: str, **properties):
    def add(template: dict) -> None:
        template["Resources"]["Added"] = {"Type": resource_type, "Properties": properties}

    return add


def _stream_policy(template: dict) -> None:
    table = template["Resources"][TABLES[JOB].logical_id]["Properties"]
    table["StreamSpecification"]["ResourcePolicy"] = {"PolicyDocument": {"Statement": []}}


def _boundary(template: dict) -> None:
    role = next(iter(resources(template, "AWS::IAM::Role").values()))
    role["Properties"]["PermissionsBoundary"] = "arn:aws:iam::123456789012:policy/boundary"


def _default_log_group(template: dict) -> None:
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))
    del function["Properties"]["LoggingConfig"]["LogGroup"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_imported_alarm_topic, "is not a AWS::SNS::Topic of the stack"),
        (_imported_dead_letters, "dead-letter queue.*is not a AWS::SQS::Queue of the stack"),
        (_imported_mapping_source, "source 'arn:aws:sqs.*has no model"),
        (_topic_policy_by_arn, "cannot tell whose policy it replaces"),
        (_second_topic_policy, "has two policies"),
        (_added("AWS::SNS::TopicInlinePolicy"), "AWS::SNS::TopicInlinePolicy"),
        (_added("AWS::IAM::RolePolicy"), "AWS::IAM::RolePolicy"),
        (_added("AWS::Logs::ResourcePolicy"), "AWS::Logs::ResourcePolicy"),
        (_added("AWS::SNS::Subscription", Protocol="lambda"), "a lambda subscription"),
        (_stream_policy, r"StreamSpecification\.ResourcePolicy"),
        (_boundary, "PermissionsBoundary"),
        (_default_log_group, "log group: None is not a AWS::Logs::LogGroup"),
    ],
    ids=lambda value: getattr(value, "__name__", None) if callable(value) else None,
)
def test_what_the_walk_cannot_prove_fails_it_loudly(templates, mutate, message):
    template, stack_name = _broken(templates, "default")
    mutate(template)
    with pytest.raises(WalkError, match=message):
        delivery_paths(template, stack_name, STUDIO_SECRETS)


@pytest.mark.parametrize(
    ("resource_type", "prop", "value", "failing"),
    [
        ("AWS::CloudWatch::Alarm", "ActionsEnabled", False, {ALARM_ACTION}),
        ("AWS::Events::Rule", "State", "DISABLED", {RULE_TARGET}),
        ("AWS::Lambda::EventSourceMapping", "Enabled", "false", {EVENT_SOURCE}),
        ("AWS::KMS::Key", "Enabled", False, {ALARM_ACTION, RULE_TARGET}),  # the alarm topic's key
    ],
)
def test_a_path_switched_off_fails_however_its_policies_read(templates, resource_type, prop, value, failing):
    template, stack_name = _broken(templates, "default")
    switched_off = next(iter(resources(template, resource_type)))
    template["Resources"][switched_off]["Properties"][prop] = value
    paths = delivery_paths(template, stack_name, STUDIO_SECRETS)
    assert {path.kind for path in paths if path.problems} == failing
    assert all(f"{switched_off} has {prop} {value}: nothing goes along this path" in p for p in problems(paths))


def test_an_arn_like_wildcard_spans_no_part_of_the_arn(templates):
    template, stack_name = _broken(templates, "default")
    (statement,) = _service_statements(_topic_statements(template), "cloudwatch.amazonaws.com")
    condition = statement["Condition"]
    condition["ArnLike"] = {"aws:SourceArn": "arn:aws:cloudwatch:*"}  # four parts: matches no alarm
    del condition["ArnEquals"]
    assert {path.kind for path in delivery_paths(template, stack_name, STUDIO_SECRETS) if path.problems} == {ALARM_ACTION}
    condition["ArnLike"] = {"aws:SourceArn": f"arn:aws:cloudwatch:*:*:alarm:{stack_name}-*"}
    assert _problems(template, stack_name) == []


def test_a_composite_alarm_is_walked_like_any_alarm(templates):
    template, stack_name = _broken(templates, "default")
    topic = {"Ref": _topic_id(template)}
    template["Resources"]["PipelineDown"] = {
        "Type": "AWS::CloudWatch::CompositeAlarm",
        "Properties": {"AlarmRule": "ALARM(x)", "AlarmActions": [topic], "OKActions": [topic]},
    }
    found = _problems(template, stack_name)  # the topic policy names the other alarms only
    assert len(found) == 2 and all(problem.startswith("alarm PipelineDown (") for problem in found)


@pytest.mark.parametrize(
    ("resource_type", "properties"),
    [("AWS::S3::AccessPoint", {}), ("AWS::Pipes::Pipe", {}), ("AWS::Lambda::EventInvokeConfig", {})],
)
def test_a_resource_type_without_a_model_fails_the_walk(templates, resource_type, properties):
    template, stack_name = _broken(templates, "default")
    template["Resources"]["Added"] = {"Type": resource_type, "Properties": properties}
    with pytest.raises(WalkError, match=f"no model of a {resource_type}"):
        delivery_paths(template, stack_name, STUDIO_SECRETS)


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("DeadLetterConfig", {"TargetArn": {"Fn::GetAtt": [DEAD_LETTER_QUEUE.logical_id, "Arn"]}}),
        ("KmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    ],
)
def test_a_function_property_that_makes_a_path_fails_the_walk_until_modelled(templates, prop, value):
    template, stack_name = _broken(templates, "default")
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))
    function["Properties"][prop] = value
    with pytest.raises(WalkError, match=prop):
        delivery_paths(template, stack_name, STUDIO_SECRETS)


# --- the archive (reports on): Firehose's role, the bucket's policy and key, the sandbox's emptying -------


def _delivery_role_statements(template: dict) -> list[dict]:
    _, stream = only(template, "AWS::KinesisFirehose::DeliveryStream")
    role_id = stream["ExtendedS3DestinationConfiguration"]["RoleARN"]["Fn::GetAtt"][0]
    return role_policy(template, role_id)[1]["PolicyDocument"]["Statement"]


def _failing(template: dict, stack_name: str) -> Counter:
    return Counter(path.kind for path in delivery_paths(template, stack_name, STUDIO_SECRETS) if path.problems)


def test_a_delivery_role_that_may_not_write_under_the_error_prefix_fails_that_path_only(templates):
    template, stack_name = _broken(templates, "example")
    (objects,) = [s for s in _delivery_role_statements(template) if "s3:PutObject" in as_list(s["Action"])]
    objects["Resource"] = [r for r in objects["Resource"] if "/errors/" not in json.dumps(r)]
    (found,) = [p for p in _problems(template, stack_name) if "s3:PutObject" in p]
    assert "(ErrorOutputPrefix errors/" in found and _failing(template, stack_name) == {DELIVERY_DESTINATION: 1}


def test_a_delivery_role_whose_key_statement_names_another_bucket_fails_both_prefixes(templates):
    template, stack_name = _broken(templates, "example")
    (key,) = [s for s in _delivery_role_statements(template) if "kms:GenerateDataKey" in as_list(s["Action"])]
    key["Condition"]["StringEquals"]["kms:EncryptionContext:aws:s3:arn"] = "arn:aws:s3:::another-bucket"
    assert _failing(template, stack_name) == {DELIVERY_DESTINATION: 2}
    assert all("may not kms:" in problem for problem in _problems(template, stack_name))


def test_a_bucket_policy_denying_the_delivery_role_fails_its_paths(templates):
    template, stack_name = _broken(templates, "example")
    _, policy = only(template, "AWS::S3::BucketPolicy")
    _, stream = only(template, "AWS::KinesisFirehose::DeliveryStream")
    policy["PolicyDocument"]["Statement"].append({
        "Effect": "Deny", "Principal": {"AWS": stream["ExtendedS3DestinationConfiguration"]["RoleARN"]},
        "Action": "s3:PutObject", "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["ReportsBucket", "Arn"]}, "/*"]]},
    })  # fmt: skip
    assert _failing(template, stack_name) == {DELIVERY_DESTINATION: 2}
    assert all("explicitly denied by" in problem for problem in _problems(template, stack_name))


def test_a_delivery_role_without_the_glue_table_fails_the_schema_path(templates):
    template, stack_name = _broken(templates, "example")
    statements = _delivery_role_statements(template)
    statements[:] = [s for s in statements if "glue:GetTable" not in as_list(s["Action"])]
    assert _failing(template, stack_name) == {DELIVERY_SCHEMA: 1}


def test_the_sandbox_bucket_without_its_providers_statement_is_not_emptied(templates):
    template, stack_name = _broken(templates, "example-sandbox")
    _, policy = only(template, "AWS::S3::BucketPolicy")
    policy["PolicyDocument"]["Statement"] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert _failing(template, stack_name) == {EMPTY_ON_DESTROY: 1}


def _stream_under_own_key(template: dict) -> None:
    _, stream = only(template, "AWS::KinesisFirehose::DeliveryStream")
    stream["DeliveryStreamEncryptionConfigurationInput"] = {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": "arn:aws:kms:..."}


def _log_stream_elsewhere(template: dict) -> None:
    (log_stream,) = resources(template, "AWS::Logs::LogStream").values()
    log_stream["Properties"]["LogGroupName"] = "/studio/elsewhere"


def _imported_bucket(template: dict) -> None:
    _, stream = only(template, "AWS::KinesisFirehose::DeliveryStream")
    stream["ExtendedS3DestinationConfiguration"]["BucketARN"] = "arn:aws:s3:::another-bucket"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_stream_under_own_key, "customer managed key has no model"),
        (_log_stream_elsewhere, "is not in its log group"),
        (_imported_bucket, "bucket: 'arn:aws:s3:::another-bucket' is not a AWS::S3::Bucket of the stack"),
    ],
    ids=lambda value: getattr(value, "__name__", None) if callable(value) else None,
)
def test_what_the_walk_cannot_prove_of_the_archive_fails_it_loudly(templates, mutate, message):
    template, stack_name = _broken(templates, "example")
    mutate(template)
    with pytest.raises(WalkError, match=message):
        delivery_paths(template, stack_name, STUDIO_SECRETS)
