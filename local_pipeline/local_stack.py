"""The synthesized stack's queues and tables, stood up on the local engines.

Everything comes from the template (PipelineSpec): queue and table names, key
schemas, the redrive policy's maxReceiveCount, the event source's batch size and
window. One thing is scaled: the queue's visibility timeout. On AWS it is six
times the function's timeout (minutes), which is how long a failed message waits
before its next attempt; locally that would make a poison message take many
minutes to reach the DLQ, so the local queue uses `visibility_timeout` seconds.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from local_pipeline.engines import REPO_ROOT, DynamoDBLocal, LocalSQS, local_aws_environment
from local_pipeline.spec import PipelineSpec

LAMBDA_SOURCE = REPO_ROOT / "lambda_src"
DEFAULT_LOCAL_VISIBILITY_TIMEOUT = 3


@dataclass(frozen=True)
class LocalResources:
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    job_table: str
    task_table: str
    visibility_timeout: int  # the local, scaled one
    max_receive_count: int


def queue_arn(sqs, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create_local_resources(
    spec: PipelineSpec, sqs, dynamodb, visibility_timeout: int = DEFAULT_LOCAL_VISIBILITY_TIMEOUT
) -> LocalResources:
    """Create the DLQ, the queue (with its redrive policy) and both tables, as the template defines them."""
    dlq = spec.dead_letter_queue
    dlq_url = sqs.create_queue(
        QueueName=dlq.name, Attributes={"MessageRetentionPeriod": str(dlq.retention_seconds)}
    )["QueueUrl"]
    dlq_arn = queue_arn(sqs, dlq_url)
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=spec.queue.name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "MessageRetentionPeriod": str(spec.queue.retention_seconds),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    for table in (spec.job_table, spec.task_table):
        dynamodb.create_table(**table.create_table_kwargs())
    waiter = dynamodb.get_waiter("table_exists")
    for table in (spec.job_table, spec.task_table):
        waiter.wait(TableName=table.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return LocalResources(
        queue_url=queue_url,
        queue_arn=queue_arn(sqs, queue_url),
        dead_letter_queue_url=dlq_url,
        dead_letter_queue_arn=dlq_arn,
        job_table=spec.job_table.name,
        task_table=spec.task_table.name,
        visibility_timeout=visibility_timeout,
        max_receive_count=spec.max_receive_count,
    )


@dataclass(frozen=True)
class LocalPipeline:
    dynamodb: DynamoDBLocal
    sqs: LocalSQS
    resources: LocalResources


@contextmanager
def local_pipeline(spec: PipelineSpec, visibility_timeout: int = DEFAULT_LOCAL_VISIBILITY_TIMEOUT) -> Iterator[LocalPipeline]:
    """Start both engines, create the stack's resources on them, and stop the engines on the way out."""
    with ExitStack() as engines:
        dynamodb, sqs = DynamoDBLocal(), LocalSQS()
        engines.callback(dynamodb.stop)
        engines.callback(sqs.stop)
        # The JVM's start-up and moto's import overlap.
        with ThreadPoolExecutor(max_workers=1) as starter:
            dynamodb_started = starter.submit(dynamodb.start)
            sqs.start()
            dynamodb_started.result()
        resources = create_local_resources(spec, sqs.client(), dynamodb.client(), visibility_timeout)
        yield LocalPipeline(dynamodb, sqs, resources)


def processor_environment(spec: PipelineSpec, resources: LocalResources, dynamodb_endpoint: str) -> dict:
    """The function's environment from the template, pointed at the local tables and DynamoDB Local."""
    return {
        **spec.environment,
        **local_aws_environment(dynamodb_endpoint=dynamodb_endpoint),
        "DYNAMODB_JOB_INFO_TABLE": resources.job_table,
        "DYNAMODB_TASK_INFO_TABLE": resources.task_table,
    }


@contextmanager
def processor_handler(environment: dict) -> Iterator:
    """`lambda_function.main` from lambda_src/, imported fresh with `environment` set, as a cold start would.

    On the way out the environment and any previously imported processor modules
    are put back, so callers in the same process (tests) never see each other's settings.
    """
    saved_environment = {name: os.environ.get(name) for name in environment}
    saved_modules = {name: module for name, module in sys.modules.items() if _from_lambda_source(module)}
    for name in saved_modules:
        del sys.modules[name]
    os.environ.update(environment)
    sys.path.insert(0, str(LAMBDA_SOURCE))
    try:
        import lambda_function

        yield lambda_function.main
    finally:
        sys.path.remove(str(LAMBDA_SOURCE))
        for name in [name for name, module in sys.modules.items() if _from_lambda_source(module)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _from_lambda_source(module) -> bool:
    return str(getattr(module, "__file__", None) or "").startswith(str(LAMBDA_SOURCE) + os.sep)
