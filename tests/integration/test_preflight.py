"""`python -m deadline_sqs.preflight` (run by `make diff` and `make deploy`) against local STS and CloudFormation
(and, for what an earlier deploy kept, local DynamoDB, SQS and EventBridge).

moto's server (the local SQS engine serves every service) stands in for AWS; the AWS
configuration files are empty temporary files and the instance metadata service is off,
so nothing here can find real credentials or leave this machine.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from deadline_sqs import preflight
from local_pipeline.engines import LOCAL_CREDENTIALS, LOCAL_REGION, free_loopback_port, local_client
from notification_processor.roles import JOB, TASK
from stacks.config import StudioConfig, load_config, project_context
from stacks.roles import QUEUE


@pytest.fixture
def local_aws(aws_environment, local_sqs):
    """Credentials and a region, with STS and CloudFormation on the local moto server."""
    aws_environment(
        AWS_ACCESS_KEY_ID=LOCAL_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=LOCAL_CREDENTIALS["aws_secret_access_key"],
        AWS_REGION=LOCAL_REGION,
        AWS_ENDPOINT_URL_STS=local_sqs.endpoint_url,
        AWS_ENDPOINT_URL_CLOUDFORMATION=local_sqs.endpoint_url,
    )
    # moto loads each service's backend on its first call, which takes longer than the
    # preflight's short timeouts on a busy machine: load them here, without those timeouts.
    local_client("sts", local_sqs.endpoint_url).get_caller_identity()
    local_client("cloudformation", local_sqs.endpoint_url).list_stacks()
    return local_sqs


def _run(capsys, *arguments: str) -> tuple[int, str, str]:
    started = time.monotonic()
    code = preflight.main(list(arguments))
    assert time.monotonic() - started < 30  # answers within seconds, never the CDK's long wait
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_without_credentials_it_names_the_sign_in_and_the_profile(aws_environment, capsys):
    aws_environment(AWS_REGION="us-east-1")
    code, _, error = _run(capsys)
    assert code == 2
    assert "no AWS credentials found" in error and "aws sso login" in error and "AWS_PROFILE" in error
    assert "Traceback" not in error and len(error.strip().splitlines()) == 1


def test_an_unknown_profile_is_named(aws_environment, capsys):
    code, _, error = _run(capsys, "--profile", "no-such-profile")
    assert code == 2 and "no-such-profile" in error and "AWS_PROFILE" in error


def test_an_sso_profile_never_signed_in_says_to_run_aws_sso_login(aws_environment, capsys):
    code, _, error = _run(capsys, "--profile", "stale")
    assert code == 2 and "aws sso login --profile stale" in error


def test_without_a_region_it_says_where_to_set_one(aws_environment, capsys):
    aws_environment(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    code, _, error = _run(capsys)
    assert code == 2 and "AWS_REGION" in error


def test_an_unreachable_endpoint_is_reported_in_seconds(local_aws, aws_environment, capsys):
    aws_environment(AWS_ENDPOINT_URL_STS=f"http://127.0.0.1:{free_loopback_port()}")
    code, _, error = _run(capsys)
    assert code == 2 and "STS did not answer" in error


def test_an_account_without_the_bootstrap_stack_gets_the_bootstrap_command(local_aws, capsys):
    code, _, error = _run(capsys, "--toolkit-stack-name", "CDKToolkitNeverCreated")
    assert code == 2
    assert "not bootstrapped" in error and "npx cdk bootstrap aws://123456789012/us-east-1" in error


def test_a_bootstrapped_account_is_ready(local_aws, capsys):
    template = {
        "Resources": {"Staging": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"BootstrapVersion": {"Value": "30"}},
    }
    local_client("cloudformation", local_aws.endpoint_url).create_stack(
        StackName="CDKToolkitForPreflight", TemplateBody=json.dumps(template)
    )
    code, output, _ = _run(capsys, "--toolkit-stack-name", "CDKToolkitForPreflight")
    assert code == 0
    assert "account 123456789012 in us-east-1" in output and "CREATE_COMPLETE, version 30" in output


# --- deploying again after `cdk destroy`: what it kept has the names the new stack would create ---


@pytest.fixture
def bootstrapped(local_aws, aws_environment) -> str:
    """A bootstrapped local account, with DynamoDB, SQS and EventBridge on the moto server too; the
    bootstrap stack's name to pass."""
    endpoint = local_aws.endpoint_url
    aws_environment(AWS_ENDPOINT_URL_DYNAMODB=endpoint, AWS_ENDPOINT_URL_SQS=endpoint, AWS_ENDPOINT_URL_EVENTBRIDGE=endpoint)
    toolkit = f"CDKToolkit{uuid.uuid4().hex[:8]}"
    local_client("cloudformation", endpoint).create_stack(
        StackName=toolkit, TemplateBody=json.dumps({"Resources": {"Staging": {"Type": "AWS::SQS::Queue"}}})
    )
    for service, call in (("dynamodb", "list_tables"), ("sqs", "list_queues"), ("events", "list_event_buses")):
        getattr(local_client(service, endpoint), call)()  # loaded without the preflight's short timeouts
    return toolkit


@pytest.fixture
def studio(tmp_path) -> tuple[Path, StudioConfig]:
    """A studio config of its own (unique names on the shared moto server), with the history on."""
    name = f"retained-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"studio_name": name, "table_name_prefix": f"{name}-", "history": True}))
    return path, load_config({**project_context(), "config": str(path)})


def test_what_an_earlier_deploy_kept_is_named_with_both_ways_back(bootstrapped, local_aws, studio, capsys):
    path, config = studio
    endpoint = local_aws.endpoint_url
    dynamodb, sqs = local_client("dynamodb", endpoint), local_client("sqs", endpoint)
    dynamodb.create_table(
        TableName=config.table_names[JOB],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "jobId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs.create_queue(QueueName=config.queue_names[QUEUE.logical_id])
    local_client("events", endpoint).create_event_bus(Name=config.event_bus)

    code, _, error = _run(capsys, "--toolkit-stack-name", bootstrapped, "--config", str(path))
    assert code == 2 and len(error.strip().splitlines()) == 1
    assert f"the stack {config.stack_name} does not exist" in error
    kept = [f"table {config.table_names[JOB]}", f"queue {config.queue_names[QUEUE.logical_id]}", f"event bus {config.event_bus}"]
    assert all(each in error for each in kept)
    assert config.table_names[TASK] not in error and config.history_table not in error  # only what is there
    assert f"npx cdk import -c config={path}" in error and "table_name_prefix" in error and "Deploying again after destroy" in error


def test_nothing_kept_is_ready(bootstrapped, studio, capsys):
    path, _ = studio
    code, output, _ = _run(capsys, "--toolkit-stack-name", bootstrapped, "--config", str(path))
    assert code == 0 and "CDK bootstrap stack" in output


def test_a_stack_that_exists_owns_its_resources(bootstrapped, local_aws, studio, capsys):
    path, config = studio
    local_client("sqs", local_aws.endpoint_url).create_queue(QueueName=config.queue_names[QUEUE.logical_id])
    local_client("cloudformation", local_aws.endpoint_url).create_stack(
        StackName=config.stack_name, TemplateBody=json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
    )
    code, _, _ = _run(capsys, "--toolkit-stack-name", bootstrapped, "--config", str(path))
    assert code == 0


def test_a_bad_config_is_named(bootstrapped, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"studio_name": "Not A Name!"}))
    code, _, error = _run(capsys, "--toolkit-stack-name", bootstrapped, "--config", str(path))
    assert code == 2 and "studio_name" in error and len(error.strip().splitlines()) == 1
