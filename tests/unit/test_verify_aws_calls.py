"""verify's AWS-only calls against botocore's service models: Stubber refuses any request whose
operation, parameter names or types the model does not know, and the answers are in AWS's formats
(moto's CloudFormation answers 500, and moto has no alarm action history)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.stub import ANY, Stubber

from deadline_sqs.deployment import Deployment
from deadline_sqs.verify import (
    ALARM_REASON,
    FAIL,
    PASS,
    SKIP,
    Inbox,
    Run,
    alarm_path,
    check_alarms,
    confirm_subscription,
)
from deadline_sqs.verify_resources import (
    JOB_TAG,
    Clients,
    Temporaries,
    VerifyTarget,
    create_temporaries,
    find_leftovers,
    remove_temporaries,
    target_from_stack,
    temporary_base,
)
from stacks.roles import ALARM_TOPIC_OUTPUT, EVENT_BUS, QUEUE

STACK = "DeadlineNotifications-acme"
ACCOUNT_ARN = "arn:aws:{}:eu-west-1:111111111111:{}"
TOPIC = ACCOUNT_ARN.format("sns", f"{STACK}-MonitoringAlarmTopic-AbC")
QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/111111111111/"
BUS = f"{STACK}-status"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def client(service: str):
    return boto3.client(service, region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stubbed():
    """A stubbed client per service; each must have had exactly the answers queued for it."""
    stubbers: list[Stubber] = []

    def make(service: str):
        made = client(service)
        stubbers.append(Stubber(made))
        stubbers[-1].activate()
        return made, stubbers[-1]

    yield make
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
        stubber.deactivate()


def summary(logical_id: str, kind: str, physical_id: str | None) -> dict:
    found = {"LogicalResourceId": logical_id, "ResourceType": kind, "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"}
    return found | ({"PhysicalResourceId": physical_id} if physical_id else {})


def test_the_stack_is_read_over_every_page_of_its_resources_and_its_template(stubbed, pipeline_template):
    cloudformation, stub = stubbed("cloudformation")
    outputs = {QUEUE.output_key: QUEUE_URL + "q", EVENT_BUS.output_key: BUS, ALARM_TOPIC_OUTPUT: TOPIC}
    stub.add_response("describe_stacks", {"Stacks": [{
        "StackName": STACK, "CreationTime": NOW, "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
    }]}, {"StackName": STACK})  # fmt: skip
    stub.add_response("list_stack_resources", {
        "StackResourceSummaries": [summary("ErrorsAlarm", "AWS::CloudWatch::Alarm", f"{STACK}-ErrorsAlarm-1"),
                                   summary("Queue", "AWS::SQS::Queue", QUEUE_URL + "q")],
        "NextToken": "page-2",
    }, {"StackName": STACK})  # fmt: skip
    stub.add_response("list_stack_resources", {
        "StackResourceSummaries": [summary("DeadLetterAlarm", "AWS::CloudWatch::Alarm", f"{STACK}-DeadLetterAlarm-2"),
                                   summary("Failing", "AWS::CloudWatch::Alarm", None)],  # not created (yet)
    }, {"StackName": STACK, "NextToken": "page-2"})  # fmt: skip
    # AWS answers the body as a string; botocore decodes a JSON one.
    stub.add_response("get_template", {"TemplateBody": json.dumps(pipeline_template)}, {"StackName": STACK})
    target = target_from_stack(cloudformation, STACK)
    assert target.alarm_names == (f"{STACK}-DeadLetterAlarm-2", f"{STACK}-ErrorsAlarm-1")
    assert (target.bus_name, target.alarm_topic_arn, target.alert_statuses) == (BUS, TOPIC, ("Failed",))
    assert target.deployment.queue_url == QUEUE_URL + "q"


def history(alarm: str, summary_text: str, data: dict) -> dict:
    return {"AlarmHistoryItems": [{
        "AlarmName": alarm, "AlarmType": "MetricAlarm", "Timestamp": NOW, "HistoryItemType": "Action",
        "HistorySummary": summary_text, "HistoryData": json.dumps(data),
    }]}  # fmt: skip


def alarm_notification(alarm: str) -> dict:
    """What the subscribed queue receives: SNS's envelope around CloudWatch's alarm message."""
    message = {"AlarmName": alarm, "NewStateValue": "ALARM", "NewStateReason": ALARM_REASON, "OldStateValue": "OK"}
    body = {"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC, "Message": json.dumps(message)}
    return {"MessageId": "m-1", "ReceiptHandle": "handle-1", "Body": json.dumps(body), "MD5OfBody": "x"}


def test_each_alarm_is_judged_by_its_action_history_in_aws_format_and_by_the_subscription(stubbed):
    cloudwatch, cw = stubbed("cloudwatch")
    sqs, queue = stubbed("sqs")
    refused, sent, busy = (f"{STACK}-{name}" for name in ("DeadLetterAlarm-1", "ErrorsAlarm-2", "ThrottleAlarm-3"))
    cw.add_response("describe_alarms", {"MetricAlarms": [
        {"AlarmName": name, "StateValue": state} for name, state in ((refused, "OK"), (sent, "INSUFFICIENT_DATA"), (busy, "ALARM"))
    ]}, {"AlarmNames": [refused, sent, busy]})  # fmt: skip
    for name in (refused, sent):
        cw.add_response("set_alarm_state", {}, {"AlarmName": name, "StateValue": "ALARM", "StateReason": ALARM_REASON})
    # The Knowledge Center's "Why didn't I receive an SNS notification for my CloudWatch alarm trigger?"
    not_authorized = (f"Resource: {ACCOUNT_ARN.format('cloudwatch', 'alarm:' + refused)} is not authorized to perform: "
                      f"SNS:Publish on resource: {TOPIC}")  # fmt: skip
    asked = {"HistoryItemType": "Action", "StartDate": ANY, "ScanBy": "TimestampAscending", "MaxRecords": ANY}
    cw.add_response("describe_alarm_history", history(
        refused, f'Failed to execute action {TOPIC}. Received error: "{not_authorized}"',
        {"actionState": "Failed", "notificationResource": TOPIC, "stateUpdateTimestamp": 1, "publishedMessage": None},
    ), asked | {"AlarmName": refused})  # fmt: skip
    cw.add_response("describe_alarm_history", history(
        sent, f"Successfully executed action {TOPIC}",
        {"actionState": "Succeeded", "notificationResource": TOPIC, "stateUpdateTimestamp": 1,
         "publishedMessage": {"messageId": "m-1", "message": "..."}},
    ), asked | {"AlarmName": sent})  # fmt: skip
    queue.add_response("receive_message", {"Messages": [alarm_notification(sent)]}, {
        "QueueUrl": QUEUE_URL + "verify", "MaxNumberOfMessages": ANY, "WaitTimeSeconds": ANY, "VisibilityTimeout": ANY,
    })  # fmt: skip
    queue.add_response("delete_message_batch", {"Successful": [{"Id": "0"}], "Failed": []},
                       {"QueueUrl": QUEUE_URL + "verify", "Entries": [{"Id": "0", "ReceiptHandle": "handle-1"}]})
    target = VerifyTarget(STACK, Deployment(), alarm_topic_arn=TOPIC, alarm_names=(refused, sent, busy))
    run = Run(Clients(sqs, None, cloudwatch=cloudwatch), target, 60, "job", inbox=Inbox(sqs, QUEUE_URL + "verify"), out=io.StringIO())
    check_alarms(run)
    results = {result.path: result for result in run.results}
    assert results[alarm_path(busy)].outcome == SKIP
    assert results[alarm_path(sent)].outcome == PASS
    assert results[alarm_path(refused)].outcome == FAIL
    assert results[alarm_path(refused)].note.startswith("CloudWatch may not publish to the topic: the topic policy lacks")
    assert not_authorized in results[alarm_path(refused)].note  # AWS's own words


def test_the_temporaries_are_made_and_removed_with_calls_the_models_accept(stubbed):
    sqs, queue = stubbed("sqs")
    events, bus = stubbed("events")
    sns, topic = stubbed("sns")
    name = f"{temporary_base(STACK)}-0123abcd"
    queue_arn, rule_arn = ACCOUNT_ARN.format("sqs", name), ACCOUNT_ARN.format("events", f"rule/{BUS}/{name}")
    queue.add_response("create_queue", {"QueueUrl": QUEUE_URL + name}, {
        "QueueName": name, "Attributes": {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "3600"},
        "tags": {JOB_TAG: "job"},
    })  # fmt: skip
    queue.add_response("get_queue_attributes", {"Attributes": {"QueueArn": queue_arn}},
                       {"QueueUrl": QUEUE_URL + name, "AttributeNames": ["QueueArn"]})
    bus.add_response("put_rule", {"RuleArn": rule_arn}, {"Name": name, "EventBusName": BUS, "EventPattern": ANY, "Description": ANY})
    queue.add_response("set_queue_attributes", {}, {"QueueUrl": QUEUE_URL + name, "Attributes": {"Policy": ANY}})
    bus.add_response("put_targets", {"FailedEntryCount": 0, "FailedEntries": []},
                     {"Rule": name, "EventBusName": BUS, "Targets": [{"Id": "verify", "Arn": queue_arn}]})
    # Asked without ReturnSubscriptionArn, so a subscription that waits for its confirmation says so.
    topic.add_response("subscribe", {"SubscriptionArn": "pending confirmation"},
                       {"TopicArn": TOPIC, "Protocol": "sqs", "Endpoint": queue_arn})
    target = VerifyTarget(STACK, Deployment(), bus_name=BUS, alarm_topic_arn=TOPIC, alarm_names=())
    clients = Clients(sqs, None, events=events, sns=sns)
    made = Temporaries(name)
    create_temporaries(clients, target, made, "job")
    assert made.subscription_arn == "pending confirmation"
    # Removal: no Unsubscribe of an unconfirmed subscription (it has no ARN to give), the rule, the queue.
    bus.add_response("list_targets_by_rule", {"Targets": [{"Id": "verify", "Arn": queue_arn}]}, {"Rule": name, "EventBusName": BUS})
    bus.add_response("remove_targets", {"FailedEntryCount": 0, "FailedEntries": []},
                     {"Rule": name, "EventBusName": BUS, "Ids": ["verify"]})
    bus.add_response("delete_rule", {}, {"Name": name, "EventBusName": BUS})
    queue.add_response("delete_queue", {}, {"QueueUrl": QUEUE_URL + name})
    assert remove_temporaries(clients, made) == []


def test_leftovers_are_found_over_every_page_and_a_pending_subscription_is_left_to_lapse(stubbed):
    sqs, queue = stubbed("sqs")
    events, bus = stubbed("events")
    sns, topic = stubbed("sns")
    base = temporary_base(STACK)
    old, pending, others = f"{base}-0123abcd", f"{base}-4567cdef", f"{base}-2-89abcdef"
    queue.add_response("list_queues", {"QueueUrls": [QUEUE_URL + old, QUEUE_URL + others], "NextToken": "t"}, {"QueueNamePrefix": base})
    queue.add_response("list_queue_tags", {"Tags": {JOB_TAG: "old-job"}}, {"QueueUrl": QUEUE_URL + old})
    queue.add_response("list_queues", {"QueueUrls": []}, {"QueueNamePrefix": base, "NextToken": "t"})
    bus.add_response("list_rules", {"Rules": [{"Name": old}, {"Name": others}]}, {"EventBusName": BUS, "NamePrefix": base})
    subscription = ACCOUNT_ARN.format("sns", f"{STACK}-MonitoringAlarmTopic-AbC:5f1e")
    topic.add_response("list_subscriptions_by_topic", {"Subscriptions": [
        {"SubscriptionArn": subscription, "Protocol": "sqs", "Endpoint": ACCOUNT_ARN.format("sqs", old), "TopicArn": TOPIC},
        {"SubscriptionArn": "PendingConfirmation", "Protocol": "sqs", "Endpoint": ACCOUNT_ARN.format("sqs", pending), "TopicArn": TOPIC},
    ]}, {"TopicArn": TOPIC})  # fmt: skip
    target = VerifyTarget(STACK, Deployment(), bus_name=BUS, alarm_topic_arn=TOPIC, alarm_names=())
    leftovers = find_leftovers(Clients(sqs, None, events=events, sns=sns), target, base)
    assert leftovers.queues == {QUEUE_URL + old: "old-job"}
    assert (leftovers.rules, leftovers.subscriptions) == ((old,), (subscription,))


def test_a_subscription_that_waits_is_confirmed_with_the_token_sns_sent_to_the_queue(stubbed):
    sqs, queue = stubbed("sqs")
    sns, topic = stubbed("sns")
    request = {"Type": "SubscriptionConfirmation", "MessageId": "c-1", "Token": "2336412f37fb687f5d51e6e2425f004a",
               "TopicArn": TOPIC, "Message": "You have chosen to subscribe to the topic ...", "SubscribeURL": "https://..."}  # fmt: skip
    received = {"MessageId": "c-1", "ReceiptHandle": "handle-c", "Body": json.dumps(request), "MD5OfBody": "x"}
    queue.add_response("receive_message", {"Messages": [received]}, {
        "QueueUrl": QUEUE_URL + "verify", "MaxNumberOfMessages": ANY, "WaitTimeSeconds": ANY, "VisibilityTimeout": ANY,
    })  # fmt: skip
    queue.add_response("delete_message_batch", {"Successful": [{"Id": "0"}], "Failed": []}, {"QueueUrl": ANY, "Entries": ANY})
    confirmed = ACCOUNT_ARN.format("sns", f"{STACK}-MonitoringAlarmTopic-AbC:9d2c")
    topic.add_response("confirm_subscription", {"SubscriptionArn": confirmed}, {"TopicArn": TOPIC, "Token": request["Token"]})
    target = VerifyTarget(STACK, Deployment(), alarm_topic_arn=TOPIC, alarm_names=())
    run = Run(Clients(sqs, None, sns=sns), target, 60, "job", inbox=Inbox(sqs, QUEUE_URL + "verify"))
    assert confirm_subscription(run, TOPIC) == confirmed
