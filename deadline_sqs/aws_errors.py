"""AWS errors as one line that names the resource involved (a table, a queue, a stack, an endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from deadline_sqs import CommandError

# What DynamoDB, SQS, SNS and CloudFormation answer for a resource that is not there.
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue",
     "NotFound"}  # SNS's
)

# What IAM's refusals are called by the services (SNS says AuthorizationError).
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "AuthorizationErrorException", "UnauthorizedOperation"}
)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def is_not_found(error: ClientError) -> bool:
    # CloudFormation says ValidationError "Stack with id X does not exist".
    return error_code(error) in NOT_FOUND_CODES or "does not exist" in error.response.get("Error", {}).get("Message", "")


@contextmanager
def about(resource: str) -> Iterator[None]:
    """Raise the AWS errors of the block as CommandErrors that start with `resource` ("table X")."""
    try:
        yield
    except ClientError as error:
        if is_not_found(error):
            raise CommandError(f"{resource} does not exist (check the name, the region and the account)") from None
        details = error.response.get("Error", {})
        raise CommandError(f"{resource}: {details.get('Code', 'error')}: {details.get('Message', '')}") from None
    except (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError) as error:
        raise CommandError(f"{resource}: no answer from {error.kwargs.get('endpoint_url', 'the endpoint')}") from None


@contextmanager
def needs(command: str, action: str, resource: str) -> Iterator[None]:
    """Like `about(resource)`, but a refusal by IAM names the action the command needs."""
    with about(resource):
        try:
            yield
        except ClientError as error:
            if error_code(error) in ACCESS_DENIED_CODES:
                raise CommandError(
                    f"{command} needs {action} on {resource}: grant it (docs/deploying.md lists what {command} needs)"
                ) from None
            raise
