"""verify's clean-up on local engines: what an interrupted run left is found (and only that) and removed;
and how it reads a queue others use.

moto (server mode) answers SQS, EventBridge and SNS; the test job's items are on DynamoDB Local.
"""

from __future__ import annotations

import itertools
import time

import pytest

from deadline_sqs.deployment import Deployment
from deadline_sqs.operations import marked_job_id, marked_job_keys
from deadline_sqs.verify import Inbox, recipients, wait_for
from deadline_sqs.verify_resources import (
    Clients,
    Temporaries,
    VerifyTarget,
    create_temporaries,
    find_leftovers,
    remove_leftovers,
    remove_temporaries,
    temporary_base,
    temporary_name,
)
from local_pipeline.engines import local_client

STACK = "DeadlineNotifications-acme"
_stacks = itertools.count()


@pytest.fixture
def clients(local_sqs, local_tables) -> Clients:
    return Clients(
        sqs=local_sqs.client(),
        dynamodb=local_tables.client,
        events=local_sqs.events_client(),
        sns=local_client("sns", local_sqs.endpoint_url),
    )


@pytest.fixture
def target(clients, local_tables) -> VerifyTarget:
    """A stack of its own (moto's state outlives a test): its bus and its alarm topic."""
    name = f"{STACK}{next(_stacks)}"
    clients.events.create_event_bus(Name=name)
    topic = clients.sns.create_topic(Name=f"{name}-alarms")["TopicArn"]
    return VerifyTarget(name, Deployment(tables=dict(local_tables.names)), bus_name=name, alarm_topic_arn=topic)


def _interrupted_run(clients: Clients, target: VerifyTarget, stack: str | None = None) -> tuple[Temporaries, str]:
    """What a run killed while it waited leaves: its temporaries and its stored test job."""
    job_id = marked_job_id("verify")
    made = Temporaries(temporary_name(temporary_base(stack or target.name), "0123abcd"))
    create_temporaries(clients, target, made, job_id)
    for table, key in marked_job_keys(target.deployment, job_id).values():
        clients.dynamodb.put_item(TableName=table, Item=key)
    return made, job_id


def _stored(clients: Clients, target: VerifyTarget, job_id: str) -> list[str]:
    keys = marked_job_keys(target.deployment, job_id)
    return [kind for kind, (table, key) in keys.items() if "Item" in clients.dynamodb.get_item(TableName=table, Key=key)]


def test_a_later_run_finds_exactly_what_an_interrupted_one_left_and_removes_it(clients, target):
    made, job_id = _interrupted_run(clients, target)
    # Another stack's run, whose names start like this stack's: not this stack's leftovers.
    other, other_job = _interrupted_run(clients, target, stack=f"{target.name}-2")
    assert sorted(_stored(clients, target, job_id)) == ["job", "task"]

    base = temporary_base(target.name)
    leftovers = find_leftovers(clients, target, base)
    assert leftovers.queues == {made.queue_url: job_id}
    assert leftovers.rules == (made.name,)
    assert leftovers.subscriptions == (made.subscription_arn,)

    assert remove_leftovers(clients, target, leftovers) == []
    assert not find_leftovers(clients, target, base)
    assert _stored(clients, target, job_id) == []
    # The other stack's run is untouched.
    assert find_leftovers(clients, target, temporary_base(f"{target.name}-2")).queues == {other.queue_url: other_job}
    assert sorted(_stored(clients, target, other_job)) == ["job", "task"]


def test_a_run_removes_what_it_made_even_when_it_stopped_half_way(clients, target):
    made = Temporaries(temporary_name(temporary_base(target.name), "4567cdef"))
    create_temporaries(clients, target, made, marked_job_id("verify"))
    half_made = Temporaries(made.name, queue_url=made.queue_url)  # as if interrupted before the rule existed
    assert remove_temporaries(clients, half_made) == []
    leftovers = find_leftovers(clients, target, temporary_base(target.name))
    assert leftovers.queues == {} and leftovers.rules == (made.name,)
    assert remove_temporaries(clients, made) == []  # its queue is gone already: nothing to do
    assert not find_leftovers(clients, target, temporary_base(target.name))


def test_the_listing_of_recipients_leaves_out_verifys_own_subscription(clients, target):
    clients.sns.subscribe(TopicArn=target.alarm_topic_arn, Protocol="https", Endpoint="https://oncall.example.com/hook/secret")
    _interrupted_run(clients, target)
    listed = recipients(clients.sns, target.alarm_topic_arn, temporary_base(target.name))
    assert [(r.protocol, r.endpoint) for r in listed] == [("https", "https://oncall.example.com/...")]


def test_reading_a_shared_queue_gets_past_others_messages_and_gives_them_back(clients):
    url = clients.sqs.create_queue(QueueName=f"verify-inbox-{next(_stacks)}")["QueueUrl"]
    for n in range(25):  # more than one receive returns
        clients.sqs.send_message(QueueUrl=url, MessageBody=f"someone else's alert {n}")
    clients.sqs.send_message(QueueUrl=url, MessageBody="the alert of deadline-sqs-test-verify-1")
    inbox = Inbox(clients.sqs, url, lambda body: "deadline-sqs-test-verify-1" in body)
    assert wait_for(lambda: inbox.bodies, [inbox], time.monotonic() + 60) == ["the alert of deadline-sqs-test-verify-1"]
    inbox.release()
    visible = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "25"
    clients.sqs.delete_queue(QueueUrl=url)
