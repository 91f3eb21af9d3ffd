"""The studios (studios/*.json) synthesized side by side in one app: the starter and the two examples.

Between the examples they switch on every option: a customer managed key, X-Ray tracing, alarm e-mails, a producer
role, a sandbox, and non-default sizes and timeouts. One synthesis for the session (conftest.py: studio_synthesis),
which also holds the starter with status-change events off.
"""

from __future__ import annotations

import json

import pytest

from local_pipeline.spec import PipelineSpec
from notification_processor.roles import JOB, TASK
from stacks.constructs.functions import LAMBDA_SOURCE
from stacks.roles import PIPELINE_KEY_LOGICAL_ID, PROCESSOR_HANDLER, PUBLISHER_HANDLER
from tests.infrastructure.studio_configs import WITHOUT_STATUS_EVENTS, Studio, studio_contexts
from tests.infrastructure.template_tools import (
    alarm_topic,
    alarm_topic_policy,
    alert_rule,
    assert_least_privilege,
    assert_matches_snapshot,
    cfn_lint_findings,
    config_secrets,
    function_with_handler,
    permissions_by_resource,
    producer_policy,
    resources,
    role_policy,
    subscriptions,
)

PRODUCTION, SANDBOX, STARTER = "example", "example-sandbox", "starter"
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


@pytest.fixture(scope="module")
def studios(studio_synthesis) -> dict[str, Studio]:
    return studio_synthesis.studios


@pytest.fixture(scope="module")
def production(studios) -> dict:
    return studios[PRODUCTION].template


@pytest.fixture(scope="module")
def sandbox(studios) -> dict:
    return studios[SANDBOX].template


def test_the_starter_needs_nothing_in_the_account_and_still_notifies(studios):
    """Deployable on an empty (bootstrapped) account: nothing imported, nothing assumed to exist."""
    starter = studios[STARTER].template
    assert "Roles" not in producer_policy(starter)[1]  # no producer role to attach to
    assert not resources(starter, "AWS::SNS::Subscription")  # "" for alarm_email: none
    topic_id, _ = alarm_topic(starter)
    for alarm in resources(starter, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    assert "Parameters" not in starter or set(starter["Parameters"]) == {"BootstrapVersion"}


# Names that need not be unique in an account: Athena keys a named query by its id (one per report file, in each
# stack's own workgroup).
NOT_ACCOUNT_UNIQUE = frozenset({"AWS::Athena::NamedQuery"})


def physical_names(template: dict) -> set[str]:
    """Every name a resource is given (joins rendered, pseudo parameters as ${...}).

    A bare reference (an event source mapping's FunctionName) names another resource. A rule's name is
    its bus's name and its own: names are unique per bus.
    """

    def render(value) -> str:
        if isinstance(value, str):
            return value
        if "Ref" in value:
            return "${{{}}}".format(value["Ref"])
        return "".join(render(part) for part in value["Fn::Join"][1])

    def of_bus(resource: dict) -> str:
        bus = resource["Properties"].get("EventBusName") if resource["Type"] == "AWS::Events::Rule" else None
        return "" if bus is None else render(template["Resources"][bus["Ref"]]["Properties"]["Name"]) + "/"

    return {
        of_bus(resource) + render(value)
        for resource in template["Resources"].values()
        if resource["Type"] not in NOT_ACCOUNT_UNIQUE
        for name in NAME_PROPERTIES
        if (value := resource.get("Properties", {}).get(name)) is not None and "Ref" not in value
    }


def processor(template: dict) -> dict:
    return function_with_handler(template, PROCESSOR_HANDLER)[1]


def processor_policy_id(template: dict) -> str:
    return role_policy(template, processor(template)["Role"]["Fn::GetAtt"][0])[0]


def test_two_studios_fit_one_account_without_a_name_clash(studios):
    production, sandbox = (physical_names(studios[name].template) for name in (PRODUCTION, SANDBOX))
    # two tables, two queues, the dashboard, the history table, the failure queue, the bus; the failing workers'
    # state table and failure queue; the sender's two queues, its state table, the artists' topic and rule; with
    # reports the archive's failure queue and the Athena workgroup; and production's two chat channels' topics and
    # rules, and its five webhooks' rules
    assert len(sandbox) == 17
    assert len(production) == 26
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


def test_one_customer_managed_key_with_rotation_encrypts_queues_tables_and_the_log_group(production):
    key = production["Resources"][PIPELINE_KEY_LOGICAL_ID]["Properties"]
    assert key["EnableKeyRotation"] is True
    key_arn = {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}
    for queue_id in ("NotificationQueue", "NotificationDeadLetterQueue"):
        queue = production["Resources"][queue_id]["Properties"]
        assert queue["KmsMasterKeyId"] == key_arn
        assert "SqsManagedSseEnabled" not in queue
    for table in resources(production, "AWS::DynamoDB::Table").values():
        assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    for log_group in resources(production, "AWS::Logs::LogGroup").values():  # both functions'
        assert log_group["Properties"]["KmsKeyId"] == key_arn


def test_cloudwatch_logs_may_use_the_key_for_this_stacks_log_groups_only(production):
    key = production["Resources"][PIPELINE_KEY_LOGICAL_ID]["Properties"]
    (logs,) = [s for s in key["KeyPolicy"]["Statement"] if "logs." in json.dumps(s["Principal"])]
    assert logs["Principal"]["Service"]["Fn::Join"][1] == ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]
    assert "kms:GenerateDataKey" in logs["Action"] and not any("*" in action for action in logs["Action"])
    (log_groups,) = logs["Condition"]["ArnLike"].values()
    # One pattern per log group the key encrypts, by its logical id: no other stack's log group matches.
    names = [pattern["Fn::Join"][1][-1] for pattern in log_groups]
    encrypted = [
        logical_id
        for logical_id, log_group in resources(production, "AWS::Logs::LogGroup").items()
        if log_group["Properties"].get("KmsKeyId") == {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}
    ]
    assert len(encrypted) == 6  # the five functions' and Firehose's
    assert names == [f":log-group:DeadlineNotifications-example-{logical_id}-*" for logical_id in encrypted]


def test_tracing_turns_on_active_x_ray_with_only_its_two_resourceless_actions(production, sandbox):
    assert processor(production)["TracingConfig"] == {"Mode": "Active"}
    assert "TracingConfig" not in processor(sandbox)
    allowed = permissions_by_resource(production, processor_policy_id(production))
    assert allowed[None] == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def test_processor_may_only_decrypt_with_the_stacks_key(production):
    allowed = permissions_by_resource(production, processor_policy_id(production))
    assert allowed[PIPELINE_KEY_LOGICAL_ID] == {"kms:Decrypt"}
    assert allowed["NotificationQueue"] == {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def test_producer_may_encrypt_for_the_queue_and_is_attached_to_the_named_role(production):
    policy_id, policy = producer_policy(production)
    assert permissions_by_resource(production, policy_id) == {
        "NotificationQueue": {"sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"},
        PIPELINE_KEY_LOGICAL_ID: {"kms:GenerateDataKey", "kms:Decrypt"},
    }
    assert policy["Roles"] == ["DeadlineRemoteConnectionServer"]


def test_alarms_e_mail_through_an_encrypted_tls_only_topic(production):
    topic_id, topic = alarm_topic(production)
    topic_key_id = topic["KmsMasterKeyId"]["Fn::GetAtt"][0]
    topic_key = production["Resources"][topic_key_id]["Properties"]
    assert topic_key["EnableKeyRotation"] is True
    services = [s for s in topic_key["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert [(s["Principal"]["Service"], s["Action"]) for s in services] == [
        (["cloudwatch.amazonaws.com", "events.amazonaws.com"], ["kms:Decrypt", "kms:GenerateDataKey"])
    ]  # CloudWatch for alarms, EventBridge for job alerts

    _, topic_policy = alarm_topic_policy(production)
    statement, *_ = topic_policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    (subscription,) = subscriptions(production, "email").values()
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "render-ops@example.com")
    alarms = resources(production, "AWS::CloudWatch::Alarm").values()
    assert len(alarms) == 15  # 4 of the queue and processor, 2 of the publisher, 2 of the check, 6 of the archive, the sender's DLQ
    assert all(alarm["Properties"]["AlarmActions"] == alarm["Properties"]["OKActions"] == [{"Ref": topic_id}] for alarm in alarms)
    age = [a["Properties"] for a in alarms if a["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"]
    assert [a["Threshold"] for a in age] == [900]


def test_a_sandbox_is_deleted_with_its_stack_and_production_is_retained(production, sandbox):
    stateful = ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::KMS::Key")
    for template, policy, protected in ((sandbox, "Delete", False), (production, "Retain", True)):
        kept = [r for r in template["Resources"].values() if r["Type"] in stateful]
        assert kept and all(r["DeletionPolicy"] == r["UpdateReplacePolicy"] == policy for r in kept)
        tables = resources(template, "AWS::DynamoDB::Table").values()
        assert tables and {t["Properties"]["DeletionProtectionEnabled"] for t in tables} == {protected}


def test_sandbox_turns_on_every_path_but_subscriptions_and_a_producer_role(sandbox):
    """What the sandbox acceptance job deploys: every path that needs no step in a console."""
    topic_id, topic = alarm_topic(sandbox)
    assert set(resources(sandbox, "AWS::KMS::Key")) == {PIPELINE_KEY_LOGICAL_ID, topic["KmsMasterKeyId"]["Fn::GetAtt"][0]}
    assert "NotificationHistoryTable" in sandbox["Resources"]
    # the queue's, both tables', the history's twice (the check, the archiver), DeliveryQueue's
    assert len(resources(sandbox, "AWS::Lambda::EventSourceMapping")) == 6
    assert len(resources(sandbox, "AWS::Events::Rule")) == 3  # the job alerts, the failing-worker alerts, the artists'
    assert not resources(sandbox, "AWS::SNS::Subscription")  # who would confirm an e-mail?
    for alarm in resources(sandbox, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == alarm["Properties"]["OKActions"] == [{"Ref": topic_id}]
    assert "Roles" not in producer_policy(sandbox)[1]


def test_without_status_events_there_are_no_streams_bus_publisher_or_alerts(studios):
    template = studios[WITHOUT_STATUS_EVENTS].template
    for table in resources(template, "AWS::DynamoDB::Table").values():
        assert "StreamSpecification" not in table["Properties"]
    for kind in ("AWS::Events::EventBus", "AWS::Events::Rule"):
        assert not resources(template, kind)
    assert [f["Properties"]["Handler"] for f in resources(template, "AWS::Lambda::Function").values()] == [PROCESSOR_HANDLER]
    assert len(resources(template, "AWS::CloudWatch::Alarm")) == 4
    assert set(template["Outputs"]) == {
        "QueueUrl", "DeadLetterQueueUrl", "JobTableName", "TaskTableName", "ProducerPolicyArn", "AlarmTopicArn"
    }


def test_every_option_names_the_bus_publishes_every_change_and_alerts_on_failed_and_completed(production):
    assert production["Resources"]["StatusEventBus"]["Properties"]["Name"] == "example-render-events"
    variables = function_with_handler(production, PUBLISHER_HANDLER)[1]["Environment"]["Variables"]
    assert (variables["STUDIO_NAME"], variables["PUBLISH"]) == ("example", "all_changes")
    _, rule = alert_rule(production)
    assert rule["EventPattern"]["detail"] == {"status": ["Failed", "Completed"]}


def test_the_history_table_is_keyed_by_job_and_timeline_and_expires_entries(production):
    table = production["Resources"]["NotificationHistoryTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = table["Properties"]
    assert props["TableName"] == "Example-DeadlineNotificationHistory"
    assert [(k["AttributeName"], k["KeyType"]) for k in props["KeySchema"]] == [("job_id", "HASH"), ("timeline", "RANGE")]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}  # for failing workers and the archive
    assert production["Outputs"]["HistoryTableName"]["Value"] == {"Ref": "NotificationHistoryTable"}


def test_the_failing_worker_state_takes_the_prefix_and_the_stacks_key(production):
    properties = production["Resources"]["WorkerFailureTable"]["Properties"]
    assert properties["TableName"] == "Example-DeadlineWorkerFailures"
    assert properties["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": [PIPELINE_KEY_LOGICAL_ID, "Arn"]}
    queue = production["Resources"]["FarmHealthFailureQueue"]["Properties"]
    assert queue["QueueName"] == "DeadlineNotifications-example-farm-health-failures"


def test_the_processor_writes_the_history_and_only_inserts_items_there(production):
    variables = processor(production)["Environment"]["Variables"]
    assert (variables["DYNAMODB_HISTORY_TABLE"], variables["HISTORY_DAYS"]) == ({"Ref": "NotificationHistoryTable"}, "30")
    assert permissions_by_resource(production, processor_policy_id(production))["NotificationHistoryTable"] == {
        "dynamodb:PutItem", "dynamodb:PartiQLInsert"
    }


@pytest.mark.parametrize("name", sorted(studio_contexts()))
def test_every_iam_statement_is_least_privilege(studios, name):
    assert_least_privilege(studios[name].template, config_secrets(studios[name].config))


def test_cdk_nag_reports_nothing_unacknowledged(studio_synthesis):
    report = studio_synthesis.validation_report
    assert [v for plugin in report["pluginReports"] for v in plugin.get("violations", [])] == []


@pytest.mark.parametrize("name", sorted(studio_contexts()))
def test_cfn_lint_reports_nothing(studios, name):
    assert cfn_lint_findings(studios[name].template) == []


def test_the_deployment_package_holds_the_handlers_modules_only(studio_synthesis):
    # The studios share one package (the sandbox's bucket-emptying provider is CDK's own asset).
    (package,) = [path for path in studio_synthesis.outdir.glob("asset.*") if (path / "lambda_function.py").exists()]
    packaged = {path.relative_to(package).as_posix() for path in package.rglob("*") if path.is_file()}
    modules = {
        path.relative_to(LAMBDA_SOURCE).as_posix() for path in LAMBDA_SOURCE.rglob("*.py") if "__pycache__" not in path.parts
    } | {path.relative_to(LAMBDA_SOURCE).as_posix() for path in (LAMBDA_SOURCE / "deliveries" / "formats").iterdir()}
    assert "lambda_function.py" in packaged
    assert packaged == modules


def test_template_with_every_option_matches_the_reviewed_snapshot(production):
    assert_matches_snapshot(production, "DeadlineNotifications-example")
