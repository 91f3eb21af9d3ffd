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

AWS_VARIABLES = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE",
)  # fmt: skip


@pytest.fixture
def aws_environment(tmp_path, monkeypatch):
    """No AWS configuration at all (an SSO profile `stale` that never signed in aside, no instance
    metadata), so nothing can find real credentials; returns a function to set variables on top."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "config").write_text("[profile stale]\nregion = us-east-1\nsso_session = studio\n"
                                     "sso_account_id = 123456789012\nsso_role_name = Deploy\n"
                                     "[sso-session studio]\nsso_start_url = https://example.invalid/start\n"
                                     "sso_region = us-east-1\n")
    (tmp_path / "credentials").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path))  # no SSO token cache

    def setenv(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return setenv


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
def local_demo_template() -> dict:
    """The template `make demo` runs: studios/local-demo.json (the defaults and a chat channel of each kind)."""
    from stacks.synth import synthesize_template

    return synthesize_template({"config": "studios/local-demo.json"})


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
