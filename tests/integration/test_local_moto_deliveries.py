"""What the local deliveries rely on moto for, probed: EventBridge expanding the rules' input template
(<aws.events.event.json>) into the SQS body, SNS applying a subscription's filter policy to the
message attributes, and SNS's MessageStructure json choosing the sqs body. Each probe fails if moto
stops doing it, so the local pipeline would need its marked stand-ins."""

from __future__ import annotations

import json

import pytest

from deadline_sqs.sending import queue_arn
from local_pipeline.engines import local_client
from local_pipeline.pipeline import drain
from stacks.destinations import event_pattern, rule_input_template
from status_events.changes import SOURCE


def received(sqs, url: str, count: int, timeout: float = 60) -> list[str]:
    """The bodies of ``count`` messages, waiting up to ``timeout`` seconds for them."""
    bodies: list[str] = []
    for _ in range(int(timeout)):
        bodies += drain(sqs, url)
        if len(bodies) >= count:
            return bodies
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=0)
    return bodies


@pytest.fixture
def sns(local_sqs):
    return local_client("sns", local_sqs.endpoint_url)


def test_moto_expands_the_rules_whole_event_template(local_sqs):
    sqs, events = local_sqs.client(), local_sqs.events_client()
    events.create_event_bus(Name="probe-deliveries")
    url = sqs.create_queue(QueueName="probe-deliveries")["QueueUrl"]
    events.put_rule(Name="probe", EventBusName="probe-deliveries", EventPattern=json.dumps(event_pattern()))
    events.put_targets(Rule="probe", EventBusName="probe-deliveries", Targets=[{
        "Id": "q", "Arn": queue_arn(sqs, url), "InputTransformer": {"InputTemplate": rule_input_template("artists")},
    }])
    detail = {"jobId": "j1", "status": "Completed", "jobName": 'a "quoted" name'}
    for each in (detail, {**detail, "test": True}):
        events.put_events(Entries=[{"Source": SOURCE, "DetailType": "Deadline Job Status Change",
                                    "Detail": json.dumps(each), "EventBusName": "probe-deliveries"}])
    (body,) = received(sqs, url, 1)
    wrapper = json.loads(body)
    assert wrapper["destination"] == "artists"
    assert wrapper["event"]["detail"] == detail  # the test job's event did not match
    assert wrapper["event"]["detail-type"] == "Deadline Job Status Change"


def test_moto_applies_filter_policies_and_the_sqs_body_of_a_json_structure(local_sqs, sns):
    sqs = local_sqs.client()
    topic = sns.create_topic(Name="probe-job-notifications")["TopicArn"]
    urls = {name: sqs.create_queue(QueueName=f"probe-artist-{name}")["QueueUrl"] for name in ("amelie", "bruno")}
    for name, url in urls.items():
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, url), Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"userName": [name], "status": ["Completed", "Failed"]}),
        })
    attributes = {"userName": {"DataType": "String", "StringValue": "amelie"},
                  "status": {"DataType": "String", "StringValue": "Failed"}}
    message = json.dumps({"default": "text", "email": "text", "sqs": '{"structured": true}'})
    sns.publish(TopicArn=topic, Message=message, MessageStructure="json", MessageAttributes=attributes)
    sns.publish(TopicArn=topic, Message=message, MessageStructure="json",
                MessageAttributes={**attributes, "status": {"DataType": "String", "StringValue": "Suspended"}})
    assert received(sqs, urls["amelie"], 1) == ['{"structured": true}']
    assert drain(sqs, urls["bruno"]) == []
