"""Send message bodies to any SQS queue with SendMessageBatch, reporting what could not be sent."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import about, is_not_found

# SQS's limit on the entries of one SendMessageBatch, DeleteMessageBatch or
# ChangeMessageVisibilityBatch, and on the messages of one ReceiveMessage.
SQS_BATCH_ENTRIES = 10
BATCH_BYTES = 1024 * 1024  # SendMessageBatch's payload limit (the sum of the bodies)
RETRIES = 3  # for entries SQS failed on its side (SenderFault false)


class MessageFileError(CommandError):
    """A messages file that is not JSON lines of {"body": "<message body>", ...}."""


def read_message_lines(path: Path) -> list[dict]:
    """The objects of a JSON lines messages file, each with its exact message body as "body"."""
    rows = []
    with Path(path).open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise MessageFileError(f"{path}:{number}: not a JSON line ({error})") from None
            if not isinstance(row, dict) or not isinstance(row.get("body"), str):
                raise MessageFileError(f'{path}:{number}: not a message line (an object with a string "body")')
            rows.append(row)
    return rows


@dataclass(frozen=True)
class SendFailure:
    index: int  # position in the bodies given to send_bodies
    code: str
    message: str


@dataclass
class SendReport:
    sent: int = 0
    failures: list[SendFailure] = field(default_factory=list)


def batches(bodies: list[str]) -> Iterable[list[int]]:
    """Indexes of the bodies grouped for SendMessageBatch: at most 10 and 1 MiB per call."""
    batch, size = [], 0
    for index, body in enumerate(bodies):
        length = len(body.encode())
        if batch and (len(batch) == SQS_BATCH_ENTRIES or size + length > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += length
    if batch:
        yield batch


def send_bodies(
    sqs, queue_url: str, bodies: list[str], on_progress: Callable[[int], object] | None = None
) -> SendReport:
    """Send every body once; entries SQS failed on its side are retried, the sender's faults are reported."""
    report = SendReport()
    for batch in batches(bodies):
        failed = _send_batch(sqs, queue_url, bodies, batch)
        report.sent += len(batch) - len(failed)
        report.failures.extend(failed)
        if on_progress:
            on_progress(len(batch))
    return report


def _send_batch(sqs, queue_url: str, bodies: list[str], batch: list[int]) -> list[SendFailure]:
    pending, failures = batch, []
    for attempt in range(RETRIES + 1):
        entries = [{"Id": str(index), "MessageBody": bodies[index]} for index in pending]
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except ClientError as error:
            if is_not_found(error):
                raise CommandError(f"queue {queue_url} does not exist (check the URL, the region and the account)") from None
            # The whole call was refused (a body too long for the queue, say): none of it was sent.
            details = error.response.get("Error", {})
            code, text = details.get("Code", "Error"), details.get("Message", "")
            return failures + [SendFailure(index, code, text) for index in pending]
        pending = []
        for entry in response.get("Failed", []):
            index = int(entry["Id"])
            if entry.get("SenderFault") or attempt == RETRIES:
                failures.append(SendFailure(index, entry.get("Code", ""), entry.get("Message", "")))
            else:
                pending.append(index)
        if not pending:
            break
    return failures


def queue_arn(sqs, queue_url: str) -> str:
    with about(f"queue {queue_url}"):
        return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


# Every message a queue holds: waiting, in flight (received, not yet deleted) and delayed.
QUEUE_COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


def messages_in_queue(sqs, queue_url: str) -> int:
    """How many messages the queue holds, waiting, in flight or delayed (SQS's approximate counts)."""
    with about(f"queue {queue_url}"):
        found = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(QUEUE_COUNT_ATTRIBUTES))["Attributes"]
    return sum(int(found.get(name, 0)) for name in QUEUE_COUNT_ATTRIBUTES)
