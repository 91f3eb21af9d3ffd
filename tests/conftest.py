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
from notification_processor.roles import JOB, TASK

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


def write_cdk_out(folder: Path, template: dict, stack_name: str = "DeadlineNotifications-default") -> Path:
    """A `cdk synth` output folder holding one stack's template, as `make synth` writes it."""
    (folder / "Stack.template.json").write_text(json.dumps(template))
    manifest = {
        "version": "48.0.0",
        "artifacts": {
            stack_name: {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Stack.template.json"}}
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


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
    """Fresh notification tables on DynamoDB Local, with the stack's key schemas."""

    client: object
    endpoint_url: str
    names: dict[str, str]  # by role

    @property
    def job_table(self) -> str:
        return self.names[JOB]

    @property
    def task_table(self) -> str:
        return self.names[TASK]


_table_counter = itertools.count()


@pytest.fixture
def local_tables(dynamodb_local, pipeline_spec):
    client = dynamodb_local.client()
    suffix = next(_table_counter)
    names = {kind: f"{spec.name}-{suffix}" for kind, spec in pipeline_spec.tables.items()}
    for kind, spec in pipeline_spec.tables.items():
        client.create_table(**spec.create_table_kwargs(names[kind]))
    yield LocalTables(client, dynamodb_local.endpoint_url, names)
    for name in names.values():
        client.delete_table(TableName=name)
