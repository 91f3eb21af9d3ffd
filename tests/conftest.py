"""Fixtures shared by the test suites: the synthesized template and the local engines.

Integration tests use Amazon's DynamoDB Local (started here on a free loopback
port, telemetry off, stopped at the end) and build their tables from the stack's
own template, so the key schemas are never written twice.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from local_pipeline.engines import DynamoDBLocal, LocalSQS
from local_pipeline.spec import PipelineSpec

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def documented_job_message() -> dict:
    """The job notification example from Deadline's documentation, verbatim."""
    return json.loads((FIXTURES / "job_notification.json").read_text())


@pytest.fixture(scope="session")
def documented_task_message() -> dict:
    """The task notification example from Deadline's documentation, verbatim."""
    return json.loads((FIXTURES / "task_notification.json").read_text())


@pytest.fixture(scope="session")
def pipeline_template() -> dict:
    """The stack's CloudFormation template with the repository's default configuration."""
    from stacks.synth import synthesize_template

    return synthesize_template()


@pytest.fixture(scope="session")
def pipeline_spec(pipeline_template) -> PipelineSpec:
    return PipelineSpec.from_template(pipeline_template)


@pytest.fixture(scope="session")
def dynamodb_local():
    with DynamoDBLocal() as engine:
        yield engine


@pytest.fixture(scope="session")
def local_sqs():
    with LocalSQS() as engine:
        yield engine


@dataclass(frozen=True)
class LocalTables:
    """A fresh pair of notification tables on DynamoDB Local, with the stack's key schemas."""

    client: object
    endpoint_url: str
    job_table: str
    task_table: str


_table_counter = itertools.count()


@pytest.fixture
def local_tables(dynamodb_local, pipeline_spec):
    client = dynamodb_local.client()
    suffix = next(_table_counter)
    names = []
    for spec in (pipeline_spec.job_table, pipeline_spec.task_table):
        name = f"{spec.name}-{suffix}"
        client.create_table(**spec.create_table_kwargs(name))
        names.append(name)
    yield LocalTables(client, dynamodb_local.endpoint_url, *names)
    for name in names:
        client.delete_table(TableName=name)
