"""Before `cdk diff` or `cdk deploy`: are there AWS credentials, is the account bootstrapped, and
(with --config) is anything of the studio's names left from an earlier deploy?

`python -m deadline_sqs.preflight` (what `make diff` and `make deploy` run first) answers
within seconds, where the CDK CLI waits for its own timeouts and then prints only
"Unable to resolve AWS account to use". Each problem is one line naming the fix.
Exit codes: 0 ready, 2 not ready.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import error_code, is_not_found
from stacks.config import ConfigError, StudioConfig, load_config, project_context

# The CDK's default bootstrap stack (`cdk bootstrap` without --toolkit-stack-name).
BOOTSTRAP_STACK = "CDKToolkit"
# Short: a missing network or a blocked endpoint should be reported in seconds.
CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})
SIGN_IN = "sign in (`aws sso login --profile <name>`) and name the profile (`export AWS_PROFILE=<name>`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
NO_CREDENTIALS = f"no AWS credentials found: {SIGN_IN}"
NO_REGION = "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or `region` in the profile's section of ~/.aws/config"
# Credentials an operator can renew by signing in again.
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
REJECTED_CODES = {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "AccessDenied"}


def aws_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """boto3's Session with the region the CDK CLI would use: ``region``, else AWS_REGION (which boto3
    ignores), else boto3's chain (AWS_DEFAULT_REGION, the profile's)."""
    return boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)


def configuration_problem(error: BotoCoreError) -> str:
    """What is wrong with the AWS configuration behind ``error``, and the fix, in one line."""
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS
    if isinstance(error, ProfileNotFound):
        return f"{error}: name a profile of ~/.aws/config in AWS_PROFILE (`aws configure list-profiles`)"
    return f"{error} (AWS configuration: ~/.aws/config, AWS_PROFILE)"


@dataclass(frozen=True)
class Readiness:
    account: str
    region: str
    identity: str  # the caller's ARN
    bootstrap_status: str
    bootstrap_version: str | None


def check(session: boto3.Session, bootstrap_stack: str = BOOTSTRAP_STACK) -> Readiness:
    """Who the credentials are (STS GetCallerIdentity) and the bootstrap stack's state; CommandError if not ready."""
    region = session.region_name
    if not region:
        raise CommandError(NO_REGION)
    try:
        identity = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()
    except NoCredentialsError:
        raise CommandError(NO_CREDENTIALS) from None
    except (SSOError, TokenRetrievalError):
        raise CommandError(
            f"the SSO sign-in of profile {session.profile_name!r} has expired or never happened: "
            f"run `aws sso login --profile {session.profile_name}`"
        ) from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in EXPIRED_CODES:
            raise CommandError(f"the AWS credentials have expired ({code}): {SIGN_IN}") from None
        if code in REJECTED_CODES:
            raise CommandError(f"AWS refused the credentials ({code}): {SIGN_IN}") from None
        raise CommandError(f"STS GetCallerIdentity failed: {error}") from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise CommandError(
            f"STS did not answer ({error}): check the network, a proxy (HTTPS_PROXY) or AWS_ENDPOINT_URL_STS"
        ) from None
    account = identity["Account"]
    bootstrap = f"`npx cdk bootstrap aws://{account}/{region}`"
    try:
        stacks = session.client("cloudformation", config=CLIENT_CONFIG).describe_stacks(StackName=bootstrap_stack)
    except ClientError as error:
        details = error.response.get("Error", {})
        if "does not exist" in details.get("Message", ""):
            raise CommandError(
                f"account {account} is not bootstrapped for the CDK in {region} (no {bootstrap_stack} stack): run {bootstrap}"
            ) from None
        raise CommandError(
            f"cannot read the CDK bootstrap stack {bootstrap_stack} in {region} as {identity['Arn']} "
            f"({details.get('Code')}: {details.get('Message')}): the deploying identity needs cloudformation:DescribeStacks"
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise CommandError(f"CloudFormation did not answer ({error}): check the network or a proxy") from None
    stack = stacks["Stacks"][0]
    status = stack["StackStatus"]
    if not status.endswith("_COMPLETE") or status.startswith(("ROLLBACK", "DELETE")) or "FAILED" in status:
        raise CommandError(
            f"the CDK bootstrap stack {bootstrap_stack} in {region} is {status}: fix or delete it, then run {bootstrap}"
        )
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    return Readiness(account, region, identity["Arn"], status, outputs.get("BootstrapVersion"))


def retained_resources(session: boto3.Session, config: StudioConfig) -> list[str]:
    """What `cdk destroy` kept of the stack of ``config`` when the stack
    itself does not exist: its named tables, queues and bus ("table X", ...), which would make
    creating the stack fail with "already exists"."""
    cloudformation = session.client("cloudformation", config=CLIENT_CONFIG)
    try:
        cloudformation.describe_stacks(StackName=config.stack_name)
        return []  # the stack exists: CloudFormation owns what it has
    except ClientError as error:
        if not is_not_found(error):
            raise CommandError(f"cannot read the stack {config.stack_name}: {error_code(error)}: the deploying identity "
                               "needs cloudformation:DescribeStacks") from None
    tables = [*config.table_names.values(), *([config.history_table] if config.history else [])]
    probes = [("table", name, "dynamodb", "DescribeTable", {"TableName": name}) for name in tables]
    probes += [("queue", name, "sqs", "GetQueueUrl", {"QueueName": name}) for name in config.queue_names.values()]
    if config.status_events:
        probes.append(("event bus", config.event_bus, "events", "DescribeEventBus", {"Name": config.event_bus}))
    clients = {service: session.client(service, config=CLIENT_CONFIG) for service in ("dynamodb", "sqs", "events")}
    found = []
    for kind, name, service, operation, arguments in probes:
        try:
            getattr(clients[service], xform_name(operation))(**arguments)
        except ClientError as error:
            if is_not_found(error):
                continue
            raise CommandError(
                f"cannot check whether {kind} {name} is left from an earlier deploy ({error_code(error)}): "
                f"the deploying identity needs {service}:{operation}"
            ) from None
        found.append(f"{kind} {name}")
    return found


def retained_problem(found: list[str], config: StudioConfig, config_file: str) -> str:
    return (
        f"the stack {config.stack_name} does not exist, but what an earlier deploy kept (`cdk destroy` retains it) has "
        f"the names it would create: {', '.join(found)}; creating the stack would fail with \"already exists\". "
        f"Import them (`npx cdk import -c config={config_file}`), or give the config new names (studio_name, "
        "table_name_prefix, job_table_name, task_table_name, history_table_name, event_bus_name): "
        "docs/deploying.md, \"Deploying again after destroy\""
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deadline_sqs.preflight",
        description="Check AWS credentials and the CDK bootstrap stack before `cdk diff` or `cdk deploy`.",
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, else boto3's usual chain)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else the profile's)")
    parser.add_argument("--toolkit-stack-name", default=BOOTSTRAP_STACK, help="the bootstrap stack (default %(default)s)")
    parser.add_argument(
        "--config", metavar="FILE", help="the studio's config (`-c config=FILE`): also look for what an earlier deploy kept"
    )
    args = parser.parse_args(argv)
    try:
        session = aws_session(args.profile, args.region)
        ready = check(session, args.toolkit_stack_name)
        if args.config:
            config = _studio_config(args.config)
            found = retained_resources(session, config)
            if found:
                raise CommandError(retained_problem(found, config, args.config))
    except CommandError as error:
        return _fail(str(error))
    except BotoCoreError as error:
        return _fail(configuration_problem(error))
    except KeyboardInterrupt:
        return 130
    version = f", version {ready.bootstrap_version}" if ready.bootstrap_version else ""
    print(
        f"AWS: account {ready.account} in {ready.region} as {ready.identity}; "
        f"CDK bootstrap stack {args.toolkit_stack_name}: {ready.bootstrap_status}{version}"
    )
    return 0


def _studio_config(config_file: str) -> StudioConfig:
    try:
        return load_config({**project_context(), "config": config_file}, base_dir=os.getcwd())
    except ConfigError as error:
        raise CommandError(str(error).replace("\n", "; ")) from None


def _fail(message: str) -> int:
    print(f"preflight: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
