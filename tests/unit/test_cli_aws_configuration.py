"""`deadline-sqs` finds the region the way the CDK CLI does, and names the fix for a missing region
or missing credentials with the preflight's own words. No request leaves this machine: boto3
refuses to sign before it sends."""

from __future__ import annotations

from deadline_sqs import ERROR, cli, preflight

STATUS = ["status", "job-1", "--stack-name", "DeadlineNotifications-default"]


def _error_line(capsys) -> str:
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    return error.strip()


def test_aws_region_is_honoured_as_the_cdk_cli_does(aws_environment):
    aws_environment(AWS_REGION="eu-west-1")
    assert preflight.aws_session().region_name == "eu-west-1"
    aws_environment(AWS_DEFAULT_REGION="us-west-2")
    assert preflight.aws_session().region_name == "eu-west-1"  # AWS_REGION first, as the CDK CLI
    assert preflight.aws_session(region="ap-south-1").region_name == "ap-south-1"


def test_aws_default_region_alone_is_enough(aws_environment):
    aws_environment(AWS_DEFAULT_REGION="us-west-2")
    assert preflight.aws_session().region_name == "us-west-2"


def test_without_a_region_the_command_says_where_to_set_one(aws_environment, capsys):
    aws_environment(AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")
    assert cli.main(STATUS) == ERROR
    assert _error_line(capsys) == f"deadline-sqs: error: {preflight.NO_REGION}"


def test_without_credentials_the_command_names_the_sign_in(aws_environment, capsys):
    aws_environment(AWS_REGION="eu-west-1")  # honoured: the region is not what is missing
    assert cli.main(STATUS) == ERROR
    assert _error_line(capsys) == f"deadline-sqs: error: {preflight.NO_CREDENTIALS}"
    assert "aws sso login" in preflight.NO_CREDENTIALS and "AWS_PROFILE" in preflight.NO_CREDENTIALS


def test_an_unknown_profile_is_named_with_the_fix(aws_environment, capsys):
    aws_environment(AWS_REGION="eu-west-1")
    assert cli.main([*STATUS, "--profile", "no-such-profile"]) == ERROR
    error = _error_line(capsys)
    assert "no-such-profile" in error and "aws configure list-profiles" in error
