"""Before `cdk diff` or `cdk deploy`: are there AWS credentials, and is the account bootstrapped?

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deadline_sqs.preflight",
        description="Check AWS credentials and the CDK bootstrap stack before `cdk diff` or `cdk deploy`.",
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, else boto3's usual chain)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, else the profile's)")
    parser.add_argument("--toolkit-stack-name", default=BOOTSTRAP_STACK, help="the bootstrap stack (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        ready = check(aws_session(args.profile, args.region), args.toolkit_stack_name)
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


def _fail(message: str) -> int:
    print(f"preflight: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
