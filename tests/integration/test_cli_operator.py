"""The operator commands (smoke, status, dlq, redrive, send) through the CLI, against the local engines.

The clients find the engines the way they would find any endpoint: through
AWS_ENDPOINT_URL_SQS / AWS_ENDPOINT_URL_DYNAMODB. The real processor runs behind
local pollers in threads, so a command sees what a deployment would show.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from deadline_sqs import CommandError, cli, operations
from deadline_sqs.dead_letters import rejection_reason
from deadline_sqs.deployment import QUEUE_FLAGS, Deployment, table_flag
from deadline_sqs.operations import redrive
from deadline_sqs.sending import queue_arn, queue_depth
from local_pipeline import docs_samples
from local_pipeline.engines import local_aws_environment
from local_pipeline.event_source import SqsEventSource
from local_pipeline.generator import TrafficSettings, generate, write_messages
from local_pipeline.spec import PipelineSpec
from notification_processor import BatchProcessor
from notification_processor.history import History
from notification_processor.roles import HISTORY_PARTITION_KEY, JOB, TASK
from tests.unit.processor_support import SENT_BASE_MS, processor_client

_names = itertools.count()
DEPLOYING = docs_samples.ROOT / "docs" / "deploying.md"


@pytest.fixture
def deployment(local_sqs, local_tables, monkeypatch) -> Deployment:
    """A queue (3 s visibility, DLQ after 2 receives) and the stack's tables; the environment points at them.

    A valid message reaches the DLQ only if the handlers of two receives in a row each take over 3 s
    for a batch of 10: not even a loaded machine is that slow."""
    sqs = local_sqs.client()
    suffix = next(_names)
    dlq_url = sqs.create_queue(QueueName=f"operator-dlq-{suffix}")["QueueUrl"]
    redrive_policy = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": 2}
    queue_url = sqs.create_queue(
        QueueName=f"operator-{suffix}",
        Attributes={"VisibilityTimeout": "3", "RedrivePolicy": json.dumps(redrive_policy)},
    )["QueueUrl"]
    environment = local_aws_environment(dynamodb_endpoint=local_tables.endpoint_url, sqs_endpoint=local_sqs.endpoint_url)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Deployment(queue_url, dlq_url, local_tables.names)


@pytest.fixture
def processor(deployment, local_sqs, dynamodb_local):
    """The processor behind two local pollers, writing to the deployment's tables."""
    handler = BatchProcessor(processor_client(dynamodb_local), deployment.tables).handle
    sqs = local_sqs.client()
    with SqsEventSource(sqs, deployment.queue_url, queue_arn(sqs, deployment.queue_url), handler, pollers=2):
        yield


def _target(deployment: Deployment, *queues: str, tables: bool = False) -> list[str]:
    """The explicit options naming the deployment's queues and tables, as target_options names them."""
    return [
        *(part for name in queues for part in (QUEUE_FLAGS[name], getattr(deployment, name))),
        *(part for kind, name in deployment.tables.items() if tables for part in (table_flag(kind), name)),
    ]


def _printed(capsys) -> str:
    """What the command printed; the processor's JSON log lines share stdout in these tests."""
    return "\n".join(line for line in capsys.readouterr().out.splitlines() if not line.startswith("{"))


def _wait_until_empty(sqs, queue_url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while queue_depth(sqs, queue_url):
        assert time.monotonic() < deadline, "the queue did not drain in time"
        time.sleep(0.1)


def _smoke_job_id(output: str) -> str:
    return re.search(r"OK: test job (deadline-sqs-test-smoke-[0-9a-f]+) stored after [0-9.]+ s and its task after [0-9.]+ s", output)[1]


def _assert_no_test_items(client, deployment: Deployment, job_id: str) -> None:
    job = client.get_item(TableName=deployment.tables[JOB], Key={"job_id": {"S": job_id}}, ConsistentRead=True)
    task = client.get_item(
        TableName=deployment.tables[TASK], Key={"job_id": {"S": job_id}, "task_id": {"N": "0"}}, ConsistentRead=True
    )
    assert "Item" not in job and "Item" not in task


def test_smoke_reports_latency_and_deletes_its_test_items(deployment, processor, local_tables, capsys):
    assert cli.main(["smoke", *_target(deployment, "queue_url", tables=True), "--timeout", "60"]) == 0
    output = _printed(capsys)
    assert output.rstrip().endswith("the test items were deleted"), output  # its messages had left the queue first
    _assert_no_test_items(local_tables.client, deployment, _smoke_job_id(output))


def test_smoke_deletes_items_that_a_redelivered_message_would_store_again(
    deployment, local_sqs, dynamodb_local, local_tables, capsys
):
    # A batch that stores its items but answers too late (as one that ran out of time does) is
    # delivered again after the visibility timeout: smoke must delete the items after that.
    processor = BatchProcessor(processor_client(dynamodb_local), deployment.tables)
    deliveries = Counter()

    def late_answer(event, context):
        response = processor.handle(event, context)
        ids = [record["messageId"] for record in event["Records"]]
        first_time = [message_id for message_id in ids if not deliveries[message_id]]
        deliveries.update(ids)
        if first_time:
            return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in first_time]}
        return response

    sqs = local_sqs.client()
    with SqsEventSource(sqs, deployment.queue_url, queue_arn(sqs, deployment.queue_url), late_answer, pollers=1):
        assert cli.main(["smoke", *_target(deployment, "queue_url", tables=True), "--timeout", "60"]) == 0
        _wait_until_empty(sqs, deployment.queue_url)
    assert len(deliveries) == 2 and min(deliveries.values()) >= 2  # both messages came back
    _assert_no_test_items(local_tables.client, deployment, _smoke_job_id(_printed(capsys)))


@pytest.fixture(scope="module")
def history_spec():
    """The stack's history table, from a template synthesized with the history on."""
    from stacks.synth import synthesize_template

    return PipelineSpec.from_template(synthesize_template({"history": "true"})).history_table


@pytest.fixture
def history_table(history_spec, local_tables):
    name = f"{history_spec.name}-{next(_names)}"
    local_tables.client.create_table(**history_spec.create_table_kwargs(name))
    yield name
    local_tables.client.delete_table(TableName=name)


def test_smoke_with_the_history_deletes_its_history_entries_too(
    deployment, local_sqs, dynamodb_local, local_tables, history_table, capsys
):
    processor = BatchProcessor(
        processor_client(dynamodb_local), deployment.tables, history=History(history_table, 30)
    )
    sqs = local_sqs.client()
    with SqsEventSource(sqs, deployment.queue_url, queue_arn(sqs, deployment.queue_url), processor.handle, pollers=2):
        arguments = ["smoke", *_target(deployment, "queue_url", tables=True), "--history-table", history_table, "--timeout", "60"]
        assert cli.main(arguments) == 0
    output = _printed(capsys)
    assert "the test items and their 2 history entries were deleted" in output
    job_id = _smoke_job_id(output)
    _assert_no_test_items(local_tables.client, deployment, job_id)
    left = local_tables.client.query(
        TableName=history_table,
        KeyConditionExpression="#job = :job",
        ExpressionAttributeNames={"#job": HISTORY_PARTITION_KEY.name},
        ExpressionAttributeValues={":job": {HISTORY_PARTITION_KEY.type: job_id}},
        ConsistentRead=True,
    )
    assert left["Items"] == []


def test_smoke_fails_clearly_when_nothing_stores_the_notifications(deployment, capsys):
    assert cli.main(["smoke", *_target(deployment, "queue_url", tables=True), "--timeout", "1"]) == 2
    error = capsys.readouterr().err
    assert "was not stored within 1 s" in error and "deadline-sqs dlq" in error
    assert "Traceback" not in error


def test_smoke_deletes_test_items_that_are_stored_after_its_timeout(deployment, local_sqs, dynamodb_local, monkeypatch):
    # The processor holds the smoke's batch until the smoke has timed out and deleted what it saw
    # (nothing), then stores both items: the smoke must still find and delete them.
    timed_out = threading.Event()
    real_delete = operations._delete_item

    def delete_and_release(*args):
        real_delete(*args)
        timed_out.set()

    monkeypatch.setattr(operations, "_delete_item", delete_and_release)
    processor = BatchProcessor(processor_client(dynamodb_local), deployment.tables)

    def late_handler(event, context):
        timed_out.wait(30)
        return processor.handle(event, context)

    sqs = local_sqs.client()
    with (
        SqsEventSource(sqs, deployment.queue_url, queue_arn(sqs, deployment.queue_url), late_handler, pollers=1),
        pytest.raises(CommandError, match=r"(?s)was not stored within 1 s.*arrived late and was deleted"),
    ):
        operations.smoke(sqs, dynamodb_local.client(), deployment, timeout=1, poll_seconds=0.05, late_seconds=30)
    for table in deployment.tables.values():
        assert dynamodb_local.client().scan(TableName=table)["Items"] == []


def test_sent_traffic_shows_in_status_and_its_bad_messages_in_dlq(deployment, processor, local_sqs, tmp_path, capsys):
    traffic = generate(TrafficSettings(seed=3, jobs=2, tasks_per_job=4, duplicate_rate=0.3, malformed_per_kind=1))
    write_messages(tmp_path / "traffic.jsonl", traffic.messages)
    sqs = local_sqs.client()

    assert cli.main(["send", str(tmp_path / "traffic.jsonl"), "--queue-url", deployment.queue_url, "--quiet"]) == 0
    assert f"Sent {len(traffic.messages)} of {len(traffic.messages)} messages" in _printed(capsys)
    _wait_until_empty(sqs, deployment.queue_url)

    job_id, job_state = next(iter(traffic.truth.jobs.items()))
    assert cli.main(["status", job_id, *_target(deployment, tables=True)]) == 0
    status = _printed(capsys)
    assert f"Job {job_id}" in status and job_state.status in status.splitlines()[0]
    tasks = {key[1]: state for key, state in traffic.truth.tasks.items() if key[0] == job_id}
    assert f"Tasks stored: {len(tasks)}" in status
    for task_id, state in tasks.items():
        assert re.search(rf"^\s+{task_id}\s+{state.status}\s.*{re.escape(state.timestamp)}$", status, re.MULTILINE)

    assert cli.main(["dlq", "--dlq-url", deployment.dead_letter_queue_url]) == 0
    listing = _printed(capsys)
    assert f"{len(traffic.malformed)} dead-lettered messages" in listing
    def sizeless(text: str) -> str:  # an item's size depends on its SentTimestamp's digits
        return re.sub(r"about \d+ bytes", "about N bytes", text)

    for message in traffic.malformed:
        reason = rejection_reason("any", message.body, {"SentTimestamp": str(SENT_BASE_MS)})
        assert f"why: {sizeless(reason)}" in sizeless(listing)
    # The documented listing (from a deployed stack) has lines of the shapes this one prints.
    documented = docs_samples.samples(DEPLOYING.read_text())
    (sample,) = [sample.output for sample in documented if sample.command.startswith("deadline-sqs dlq")]
    assert set(docs_samples.normalize(sample)) <= set(docs_samples.normalize(listing.splitlines()))
    # Listing leaves every message in the DLQ, visible again for a redrive.
    attributes = sqs.get_queue_attributes(
        QueueUrl=deployment.dead_letter_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(attributes["ApproximateNumberOfMessages"]) == len(traffic.malformed)


@pytest.mark.parametrize("lines", ["", "\n  \n"])
def test_sending_a_file_without_messages_says_so(deployment, tmp_path, lines, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text(lines)
    assert cli.main(["send", str(empty), "--queue-url", deployment.queue_url, "--quiet"]) == 2
    assert f"deadline-sqs: error: {empty} holds no message" in capsys.readouterr().err


def test_sending_a_missing_file_names_it_and_how_to_write_one(deployment, tmp_path, capsys):
    missing = tmp_path / "farm.jsonl"
    assert cli.main(["send", str(missing), "--queue-url", deployment.queue_url]) == 2
    error = capsys.readouterr().err
    assert error == f"deadline-sqs: error: {missing}: no such file (`deadline-sqs generate --out {missing}` writes one)\n"


def test_status_of_an_unknown_job_and_an_empty_dlq(deployment, capsys):
    assert cli.main(["status", "no-such-job", *_target(deployment, tables=True)]) == 2
    assert "no job no-such-job" in capsys.readouterr().err
    assert cli.main(["dlq", *_target(deployment, "dead_letter_queue_url")]) == 0
    assert "The dead-letter queue is empty." in capsys.readouterr().out


def _answer(client, operation: str, respond) -> list[dict]:
    """Make `client` answer `operation` with respond(params) instead of calling the endpoint.

    Returns the list of the operation's parameters, one entry per call. (botocore's
    own Stubber would answer every operation; these tests need the rest to reach moto.)
    """
    calls = []
    service = client.meta.service_model.service_name
    client.meta.events.register(f"before-parameter-build.{service}.{operation}", lambda params, **kw: calls.append(dict(params)))
    client.meta.events.register(
        f"before-call.{service}.{operation}",
        lambda **kw: (AWSResponse(None, 200, {}, None), respond(calls[-1])),
    )
    return calls


def _move_task_api(sqs, status: str = "COMPLETED", failure: str | None = None) -> list[dict]:
    """Answers StartMessageMoveTask and ListMessageMoveTasks, which moto 5.2.5 does not implement.

    The start really moves the DLQ's messages on local SQS, as SQS would, so the test
    can check where they end up. Returns the StartMessageMoveTask requests.
    """
    moved = []

    def start(params):
        source_url, destination_url = (
            sqs.get_queue_url(QueueName=params[name].rsplit(":", 1)[1])["QueueUrl"]
            for name in ("SourceArn", "DestinationArn")
        )
        while messages := sqs.receive_message(QueueUrl=source_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.send_message(QueueUrl=destination_url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
                moved.append(message)
        return {"TaskHandle": "task-1"}

    def listing(params):
        entry = {"Status": status, "ApproximateNumberOfMessagesMoved": len(moved), "ApproximateNumberOfMessagesToMove": len(moved)}
        if failure:
            entry["FailureReason"] = failure
        return {"Results": [entry]}

    _answer(sqs, "ListMessageMoveTasks", listing)
    return _answer(sqs, "StartMessageMoveTask", start)


def test_redrive_starts_a_message_move_task_from_the_dlq_to_the_queue(deployment, local_sqs):
    sqs = local_sqs.client()
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=deployment.dead_letter_queue_url, MessageBody=body)
    requests = _move_task_api(sqs)

    task = redrive(sqs, deployment, max_per_second=50, poll_seconds=0.01)

    assert requests == [{
        "SourceArn": queue_arn(sqs, deployment.dead_letter_queue_url),
        "DestinationArn": queue_arn(sqs, deployment.queue_url),
        "MaxNumberOfMessagesPerSecond": 50,
    }]
    assert (task.status, task.moved) == ("COMPLETED", 2)
    bodies = {m["Body"] for m in sqs.receive_message(QueueUrl=deployment.queue_url, MaxNumberOfMessages=10)["Messages"]}
    assert bodies == {"first", "second"}


def test_a_failed_move_task_is_reported_with_its_reason(deployment, local_sqs, monkeypatch, capsys):
    sqs = local_sqs.client()
    sqs.send_message(QueueUrl=deployment.dead_letter_queue_url, MessageBody="dead-lettered")
    _move_task_api(sqs, status="FAILED", failure="AccessDenied: kms:Decrypt")

    class Session:
        def client(self, service):
            assert service == "sqs"
            return sqs

    monkeypatch.setattr(cli, "_session", lambda args: Session())
    assert cli.main(["redrive", *_target(deployment, "dead_letter_queue_url", "queue_url")]) == 1
    assert "FAILED: 1 of 1 messages moved (AccessDenied: kms:Decrypt)" in capsys.readouterr().out


def test_redrive_of_an_empty_dead_letter_queue_says_there_is_nothing_to_move(deployment, capsys):
    # Even where the engine has no message-move tasks (moto 5.2.5): nothing is asked of it.
    assert cli.main(["redrive", *_target(deployment, "dead_letter_queue_url")]) == 0
    assert capsys.readouterr().out.startswith("The dead-letter queue is empty: nothing to redrive")


def test_redrive_on_local_sqs_says_the_engine_lacks_the_api(deployment, local_sqs, capsys):
    # moto 5.2.5 has no StartMessageMoveTask: the command must fail with one clear line.
    local_sqs.client().send_message(QueueUrl=deployment.dead_letter_queue_url, MessageBody="dead-lettered")
    assert cli.main(["redrive", *_target(deployment, "dead_letter_queue_url", "queue_url")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("deadline-sqs: error: ") and "StartMessageMoveTask" in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_stack_outputs_name_the_deployment(deployment, monkeypatch, capsys):
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    outputs = {
        "QueueUrl": deployment.queue_url,
        "DeadLetterQueueUrl": deployment.dead_letter_queue_url,
        "JobTableName": deployment.tables[JOB],
        "TaskTableName": deployment.tables[TASK],
        "ProducerPolicyArn": "arn:aws:iam::123456789012:policy/producer",
    }
    described = _answer(
        cloudformation,
        "DescribeStacks",
        lambda params: {"Stacks": [{
            "StackName": params["StackName"],
            "CreationTime": "2025-01-01T00:00:00Z",
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
        }]},
    )
    real_session = cli._session

    def session(args):
        found = real_session(args)
        found.client = lambda service, **kw: cloudformation if service == "cloudformation" else boto3.client(service)
        return found

    monkeypatch.setattr(cli, "_session", session)
    assert cli.main(["dlq", "--stack-name", "DeadlineNotifications-default"]) == 0
    assert described == [{"StackName": "DeadlineNotifications-default"}]
    assert "The dead-letter queue is empty." in capsys.readouterr().out
