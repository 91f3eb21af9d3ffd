"""The delivery-path walk (delivery_paths.py) over the defaults and every studio config: each path
by which a service or a principal reaches a resource of the stack is allowed where AWS enforces it.
And the walk can fail: a kept fixture (the alarm topic as it was before issue 15) and a few broken
copies of real templates."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stacks.roles import PIPELINE_KEY_LOGICAL_ID, PUBLISH_FAILURE_QUEUE, PUBLISHER_HANDLER
from tests.infrastructure.delivery_paths import LIST_STREAMS, WalkError, delivery_paths, problems
from tests.infrastructure.studio_configs import studio_contexts
from tests.infrastructure.template_tools import as_list, function_with_handler, only, resources, role_policy

FIXTURES = Path(__file__).parent / "fixtures"
DEFAULT_STACK = "DeadlineNotifications-default"
CONFIGS = ["default", *sorted(studio_contexts())]


@pytest.fixture(scope="module")
def templates(pipeline_template, studio_synthesis) -> dict[str, tuple[dict, str]]:
    """Each config's template and stack name: the defaults (cdk.json) and every studio."""
    found = {"default": (pipeline_template, DEFAULT_STACK)}
    for name, studio in studio_synthesis.studios.items():
        found[name] = (studio.template, studio.config.stack_name)
    return found


@pytest.mark.parametrize("config", CONFIGS)
def test_every_delivery_path_is_allowed(templates, config):
    template, stack_name = templates[config]
    paths = delivery_paths(template, stack_name)
    requests = sum(path.requests for path in paths)
    print(f"delivery paths of {config}: {len(paths)} paths, {requests} requests")
    assert paths, f"{config}: the walk found no delivery path"
    assert list(problems(paths)) == []


def test_the_walk_reaches_every_kind_of_path_and_sums_them_up(templates, capsys):
    counts = {}
    for config in CONFIGS:
        template, stack_name = templates[config]
        counts[config] = len(delivery_paths(template, stack_name))
    with capsys.disabled():
        print("\ndelivery paths per config: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    template, stack_name = templates["example"]
    kinds = {path.description.split(" ")[0] for path in delivery_paths(template, stack_name)}
    assert kinds == {"alarm", "rule", "event", "producer", "function", "log"}
    # 6 alarms x 2 actions, the rule's target and dead letters, 3 mappings and 2 on-failure
    # queues, the producer, 4 environment references, 2 function log groups and 2 log groups' key
    assert counts["example"] == 12 + 2 + 5 + 1 + 4 + 4


def test_the_alarm_topic_as_it_was_before_fails_naming_the_alarm_the_topic_and_the_missing_statement():
    fixture = json.loads((FIXTURES / "alarm-topic-without-cloudwatch.json").read_text())
    found = list(problems(delivery_paths(fixture, DEFAULT_STACK)))
    assert len(found) == 2  # the alarm's ALARM and OK actions
    first = found[0]
    assert first.startswith("alarm MonitoringDeadLetterAlarmC2330FE2 (AlarmActions) -> topic MonitoringAlarmTopicAF62D4F1:")
    assert "cloudwatch.amazonaws.com may not sns:Publish" in first
    assert "topic policy MonitoringAlarmTopicPolicyCB9CCFB0 (which replaces SNS's default policy)" in first


def _broken(templates, config: str) -> tuple[dict, str]:
    template, stack_name = templates[config]
    return copy.deepcopy(template), stack_name


def _problems(template: dict, stack_name: str) -> list[str]:
    return list(problems(delivery_paths(template, stack_name)))


def test_a_topic_under_the_aws_managed_sns_key_fails(templates):
    template, stack_name = _broken(templates, "default")
    topic_id, topic = only(template, "AWS::SNS::Topic")
    topic["KmsMasterKeyId"] = "alias/aws/sns"
    found = _problems(template, stack_name)
    assert found and all("alias/aws/sns" in problem and topic_id in problem for problem in found)


def test_a_rule_dead_letter_queue_without_its_eventbridge_statement_fails(templates):
    template, stack_name = _broken(templates, "default")
    queue_policy = next(
        policy["Properties"]
        for policy in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": PUBLISH_FAILURE_QUEUE.logical_id} in policy["Properties"]["Queues"]
    )
    statements = queue_policy["PolicyDocument"]["Statement"]
    queue_policy["PolicyDocument"]["Statement"] = [s for s in statements if "Service" not in s["Principal"]]
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
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    statement = next(s for s in policy["PolicyDocument"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    statement["Condition"]["DateGreaterThan"] = {"aws:CurrentTime": "2026-01-01T00:00:00Z"}
    with pytest.raises(WalkError, match="DateGreaterThan"):
        delivery_paths(template, stack_name)
