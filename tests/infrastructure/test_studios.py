"""The two example studios (studios/*.json) synthesized side by side in one app.

Between them they switch on every option: a customer managed key, alarm e-mails, a producer
role, a sandbox, and non-default sizes and timeouts. One synthesis for the module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_pipeline.spec import PipelineSpec
from notification_processor.roles import JOB, TASK
from stacks.config import StudioConfig, load_config, project_context
from stacks.constructs.functions import LAMBDA_SOURCE
from stacks.pipeline_stack import DeadlineNotificationsStack
from stacks.roles import PROCESSOR_HANDLER, PUBLISHER_HANDLER
from stacks.synth import add_compliance_checks, in_process_app
from tests.infrastructure.template_tools import (
    assert_least_privilege,
    assert_matches_snapshot,
    cfn_lint_findings,
    function_with_handler,
    only,
    permissions_by_resource,
    resources,
    role_policy,
)

PRODUCTION, SANDBOX = "example", "example-sandbox"
# Properties that give a resource a name of its own, unique in an account or region.
NAME_PROPERTIES = (
    "TableName",
    "QueueName",
    "DashboardName",
    "TopicName",
    "ManagedPolicyName",
    "RoleName",
    "FunctionName",
    "LogGroupName",
    "AlarmName",
    "AliasName",
    "Name",  # an event bus's
)


@dataclass(frozen=True)
class Studio:
    config: StudioConfig
    template: dict


@pytest.fixture(scope="module")
def outdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cdk.out")


@pytest.fixture(scope="module")
def synthesized(outdir) -> tuple[dict[str, Studio], dict]:
    app = in_process_app(None, str(outdir))
    add_compliance_checks(app)
    configs = {name: load_config({**project_context(), "config": f"studios/{name}.json"}) for name in (PRODUCTION, SANDBOX)}
    stacks = {name: DeadlineNotificationsStack(app, config.stack_name, config=config) for name, config in configs.items()}
    assembly = app.synth()  # raises if cdk-nag finds anything unacknowledged
    studios = {
        name: Studio(configs[name], assembly.get_stack_artifact(stack.artifact_id).template)
        for name, stack in stacks.items()
    }
    return studios, json.loads((outdir / "validation-report.json").read_text())


@pytest.fixture(scope="module")
def studios(synthesized) -> dict[str, Studio]:
    return synthesized[0]


@pytest.fixture(scope="module")
def production(studios) -> dict:
    return studios[PRODUCTION].template


@pytest.fixture(scope="module")
def sandbox(studios) -> dict:
    return studios[SANDBOX].template


def physical_names(template: dict) -> set[str]:
    """Every name a resource is given (joins rendered, pseudo parameters as ${...}).

    A bare reference (an event source mapping's FunctionName) names another resource.
    """

    def render(value) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return "${{{}}}".format(value["Ref"])
        return "".join(render(part) for part in value["Fn::Join"][1])

    return {
        render(value)
        for resource in template["Resources"].values()
        for name in NAME_PROPERTIES
        if (value := resource.get("Properties", {}).get(name)) is not None and "Ref" not in value
    }


def processor(template: dict) -> dict:
    return function_with_handler(template, PROCESSOR_HANDLER)[1]


def processor_policy_id(template: dict) -> str:
    return role_policy(template, processor(template)["Role"]["Fn::GetAtt"][0])[0]


def test_two_studios_fit_one_account_without_a_name_clash(studios):
    production, sandbox = (physical_names(studios[name].template) for name in (PRODUCTION, SANDBOX))
    assert len(sandbox) == 5  # two tables, two queues, the dashboard
    assert len(production) == 8  # and the history table, the failure queue, the bus
    assert not production & sandbox
    assert studios[PRODUCTION].config.stack_name != studios[SANDBOX].config.stack_name


def test_table_names_take_the_prefix_and_the_explicit_names(studios):
    tables = {name: PipelineSpec.from_template(studio.template) for name, studio in studios.items()}
    assert (tables[PRODUCTION].tables[JOB].name, tables[PRODUCTION].tables[TASK].name) == (
        "Example-DeadlineJobNotifications",  # a prefix before the documented names
        "Example-DeadlineTaskNotifications",
    )
    assert (tables[SANDBOX].tables[JOB].name, tables[SANDBOX].tables[TASK].name) == ("ExampleSandbox-Jobs", "ExampleSandbox-Tasks")


def test_each_studio_gets_its_own_sizes(studios):
    for studio in studios.values():
        spec = PipelineSpec.from_template(studio.template)
        config = studio.config
        assert (spec.batch_size, spec.max_batching_window_seconds, spec.max_concurrency) == (
            config.batch_size,
            config.max_batching_window_seconds,
            config.max_concurrency,
        )
        function = processor(studio.template)
        assert (function["Timeout"], function["MemorySize"]) == (
            config.function_timeout_seconds,
            config.function_memory_mb,
        )
        for log_group in resources(studio.template, "AWS::Logs::LogGroup").values():
            assert log_group["Properties"]["RetentionInDays"] == config.log_retention_days


@pytest.mark.parametrize("name, expected", [(PRODUCTION, 6 * 60 + 10), (SANDBOX, 6 * 15)])
def test_visibility_timeout_follows_each_studios_function_timeout(studios, name, expected):
    template = studios[name].template
    function = processor(template)
    visibility = template["Resources"]["NotificationQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility == expected >= 6 * function["Timeout"]


def test_customer_managed_key_with_rotation_encrypts_both_queues(production):
    keys = {
        logical_id: key["Properties"]
        for logical_id, key in resources(production, "AWS::KMS::Key").items()
        if "Queues" in logical_id
    }
    ((key_id, key),) = keys.items()
    assert key["EnableKeyRotation"] is True
    for queue_id in ("NotificationQueue", "NotificationDeadLetterQueue"):
        queue = production["Resources"][queue_id]["Properties"]
        assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
        assert "SqsManagedSseEnabled" not in queue


def queue_key_id(template: dict) -> str:
    return template["Resources"]["NotificationQueue"]["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]


def test_processor_may_only_decrypt_with_the_queue_key(production):
    allowed = permissions_by_resource(production, processor_policy_id(production))
    assert allowed[queue_key_id(production)] == {"kms:Decrypt"}
    assert allowed["NotificationQueue"] == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def test_producer_may_encrypt_for_the_queue_and_is_attached_to_the_named_role(production):
    policy_id, policy = only(production, "AWS::IAM::ManagedPolicy")
    assert permissions_by_resource(production, policy_id) == {
        "NotificationQueue": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
        queue_key_id(production): {"kms:GenerateDataKey", "kms:Decrypt"},
    }
    assert policy["Roles"] == ["DeadlineRemoteConnectionServer"]


def test_alarms_e_mail_through_an_encrypted_tls_only_topic(production):
    topic_id, topic = only(production, "AWS::SNS::Topic")
    topic_key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    topic_key = production["Resources"][topic_key_id]["Properties"]
    assert topic_key["EnableKeyRotation"] is True
    services = [s for s in topic_key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert [(s["Principal"]["Service"], s["Action"]) for s in services] == [
        (["cloudwatch.amazonaws.com", "events.amazonaws.com"], ["kms:Decrypt", "kms:GenerateDataKey"])
    ]  # CloudWatch for alarms, EventBridge for job alerts

    _, topic_policy = only(production, "AWS::SNS::TopicPolicy")
    statement, *_ = topic_policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    _, subscription = only(production, "AWS::SNS::Subscription")
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "render-ops@example.com")
    alarms = resources(production, "AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 6
    assert all(alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}] for alarm in alarms)
    age = [a["Properties"] for a in alarms if a["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert [a["Threshold"] for a in age] == [900]


def test_a_sandbox_is_deleted_with_its_stack_and_production_is_retained(production, sandbox):
    stateful = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::KMS::Key")
    for template, policy, protected in ((sandbox, "Delete", False), (production, "Retain", True)):
        kept = [r for r in template["Resources"].values() if r["Type"] in stateful]
        assert kept and all(r["DeletionPolicy"] == r["UpdateReplacePolicy"] == policy for r in kept)
        tables = resources(template, "AWS::DynamoDB::Table").values()
        assert tables and {t["Properties"]["DeletionProtectionEnabled"] for t in tables} == {protected}


def test_sandbox_has_no_queue_key_subscription_or_producer_role(sandbox):
    assert not any("Queues" in logical_id for logical_id in resources(sandbox, "AWS::KMS::Key"))
    assert not resources(sandbox, "AWS::SNS::Subscription")
    assert "Roles" not in only(sandbox, "AWS::IAM::ManagedPolicy")[1]


def test_without_status_events_there_are_no_streams_bus_publisher_or_alerts(sandbox):
    for table in resources(sandbox, "AWS::DynamoDB::Table").values():
        assert "StreamSpecification" not in table["Properties"]
    for kind in ("AWS::Events::EventBus", "AWS::Events::Rule"):
        assert not resources(sandbox, kind)
    assert [f["Properties"]["Handler"] for f in resources(sandbox, "AWS::Lambda::Function").values()] == [PROCESSOR_HANDLER]
    assert len(resources(sandbox, "AWS::CloudWatch::Alarm")) == 4
    assert set(sandbox["Outputs"]) == {
        "QueueUrl", "DeadLetterQueueUrl", "JobTableName", "TaskTableName", "ProducerPolicyArn", "AlarmTopicArn"
    }


def test_every_option_names_the_bus_publishes_every_change_and_alerts_on_failed_and_completed(production):
    assert production["Resources"]["StatusEventBus"]["Properties"]["Name"] == "example-render-events"
    variables = function_with_handler(production, PUBLISHER_HANDLER)[1]["Environment"]["Variables"]
    assert (variables["STUDIO_NAME"], variables["PUBLISH"]) == ("example", "all_changes")
    _, rule = only(production, "AWS::Events::Rule")
    assert rule["EventPattern"]["detail"] == {"status": ["Failed", "Completed"]}


def test_the_history_table_is_keyed_by_job_and_timeline_and_expires_entries(production):
    table = production["Resources"]["NotificationHistoryTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = table["Properties"]
    assert props["TableName"] == "Example-DeadlineNotificationHistory"
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == [("job_id", "HASH"), ("timeline", "RANGE")]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert "StreamSpecification" not in props
    assert production["Outputs"]["HistoryTableName"]["Value"] == {"Ref": "NotificationHistoryTable"}


def test_the_processor_writes_the_history_and_only_puts_items_there(production):
    variables = processor(production)["Environment"]["Variables"]
    assert (variables["DYNAMODB_HISTORY_TABLE"], variables["HISTORY_DAYS"]) == ({"Ref": "NotificationHistoryTable"}, "30")
    assert permissions_by_resource(production, processor_policy_id(production))["NotificationHistoryTable"] == {
        "dynamodb:PutItem"
    }


@pytest.mark.parametrize("name", [PRODUCTION, SANDBOX])
def test_every_iam_statement_is_least_privilege(studios, name):
    assert_least_privilege(studios[name].template)


def test_cdk_nag_reports_nothing_unacknowledged(synthesized):
    _, report = synthesized
    assert [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])] == []


@pytest.mark.parametrize("name", [PRODUCTION, SANDBOX])
def test_cfn_lint_reports_nothing(studios, name):
    assert cfn_lint_findings(studios[name].template) == []


def test_the_deployment_package_holds_the_handlers_modules_only(synthesized, outdir):
    (package,) = outdir.glob("asset.*")  # the studios share one package
    packaged = {path.relative_to(package).as_posix() for path in package.rglob("*") if path.is_file()}
    modules = {
        path.relative_to(LAMBDA_SOURCE).as_posix() for path in LAMBDA_SOURCE.rglob("*.py") if "__pycache__" not in path.parts
    }
    assert "lambda_function.py" in packaged
    assert packaged == modules


def test_template_with_every_option_matches_the_reviewed_snapshot(production):
    assert_matches_snapshot(production, "DeadlineNotifications-example")
