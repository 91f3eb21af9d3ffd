"""The template's queues and tables on the local engines, and the processor loaded against them."""

from __future__ import annotations

import json
import os
from dataclasses import replace

from deadline_sqs.sending import queue_arn
from local_pipeline.event_source import lambda_sqs_record
from local_pipeline.pipeline import create_local_resources, processor_environment
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.roles import TASK


def _renamed(spec, suffix: str):
    """The spec with names of its own, so it cannot collide with other tests on the shared engines."""
    return replace(
        spec,
        tables={kind: replace(table, name=f"{table.name}-{suffix}") for kind, table in spec.tables.items()},
        queue=replace(spec.queue, name=f"{spec.queue.name}-{suffix}"),
        dead_letter_queue=replace(spec.dead_letter_queue, name=f"{spec.dead_letter_queue.name}-{suffix}"),
        history_table=replace(spec.history_table, name=f"{spec.history_table.name}-{suffix}") if spec.history_table else None,
        farm_health=replace(
            spec.farm_health, state_table=replace(spec.farm_health.state_table, name=f"{spec.farm_health.state_table.name}-{suffix}")
        ) if spec.farm_health else None,
        deliveries=replace(
            spec.deliveries, state_table=replace(spec.deliveries.state_table, name=f"{spec.deliveries.state_table.name}-{suffix}")
        ) if spec.deliveries else None,
    )  # fmt: skip


def test_resources_are_created_as_the_template_defines_them(pipeline_spec, local_sqs, dynamodb_local):
    spec = _renamed(pipeline_spec, "stack")
    sqs, dynamodb = local_sqs.client(), dynamodb_local.client()
    resources = create_local_resources(spec, sqs, dynamodb, visibility_timeout=2)

    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": resources.dead_letter_queue_arn,
        "maxReceiveCount": pipeline_spec.max_receive_count,
    }
    assert attributes["VisibilityTimeout"] == "2"  # the one scaled value
    assert int(attributes["MessageRetentionPeriod"]) == pipeline_spec.queue.retention_seconds
    dlq_attributes = sqs.get_queue_attributes(
        QueueUrl=resources.dead_letter_queue_url, AttributeNames=["MessageRetentionPeriod"]
    )["Attributes"]
    assert int(dlq_attributes["MessageRetentionPeriod"]) == pipeline_spec.dead_letter_queue.retention_seconds
    assert resources.dead_letter_queue_arn == queue_arn(sqs, resources.dead_letter_queue_url)
    assert resources.tables.keys() == spec.tables.keys()
    for kind, table in resources.tables.items():
        table_spec = spec.tables[kind]
        description = dynamodb.describe_table(TableName=table)["Table"]
        assert description["KeySchema"] == table_spec.key_schema
        assert description["TableStatus"] == "ACTIVE"
        assert description["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_the_processor_configured_from_the_template_stores_into_the_local_tables_and_leaves_no_trace(
    pipeline_spec, local_sqs, dynamodb_local, documented_task_message
):
    spec = _renamed(pipeline_spec, "handler")
    sqs, dynamodb = local_sqs.client(), dynamodb_local.client()
    resources = create_local_resources(spec, sqs, dynamodb, visibility_timeout=2)
    sqs.send_message(QueueUrl=resources.queue_url, MessageBody=json.dumps(documented_task_message))
    message = sqs.receive_message(QueueUrl=resources.queue_url, MessageSystemAttributeNames=["All"])["Messages"][0]
    environment_before = dict(os.environ)

    environment = processor_environment(spec, resources)
    processor = BatchProcessor.from_environment(environment, dynamodb_local.client(**CLIENT_OPTIONS))
    response = processor.handle({"Records": [lambda_sqs_record(message, resources.queue_arn)]}, None)

    assert response == {"batchItemFailures": []}
    details = documented_task_message["TaskDetails"]
    item = dynamodb.get_item(
        TableName=resources.tables[TASK],
        Key={"job_id": {"S": details["JobID"]}, "task_id": {"N": str(details["TaskID"])}},
    )["Item"]
    assert item["timestamp"] == {"S": documented_task_message["Timestamp"]}
    assert dict(os.environ) == environment_before
