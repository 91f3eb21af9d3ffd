"""The operator commands' work against a deployed pipeline (or the local one): smoke, status, history, redrive.

smoke's test job (the same as verify's) has an id starting with TEST_JOB_PREFIX, so its events say "test": true.

Each takes boto3 clients and a Deployment (deadline_sqs.deployment).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import about, error_code
from deadline_sqs.deployment import Deployment
from deadline_sqs.notifications import (
    TASK_STOPS,
    job_notification,
    notification_timestamp,
    studio_datetime,
    task_notification,
)
from deadline_sqs.sending import queue_arn, queue_depth, send_bodies
from notification_processor.attributes import KEY_MAPPING
from notification_processor.roles import HISTORY_PARTITION_KEY, HISTORY_SORT_KEY, JOB, TABLE_ROLES, TASK, TableRole
from stacks.roles import TABLES
from status_events.changes import TEST_JOB_PREFIX

MOVE_TASK_DONE = {"COMPLETED", "FAILED", "CANCELLED"}
# After a smoke timeout, how long test items that arrive late are still deleted, at most; and how much
# longer than the queue's visibility timeout smoke waits, at most, for its messages to leave the queue.
SMOKE_LATE_SECONDS = 30
# Reads in a row that find the queue empty before smoke trusts it (the counts are approximate).
SMOKE_EMPTY_READS = 2


def item_key(role: TableRole, values: tuple) -> dict:
    """The DynamoDB key of the item with these key values in a table of this role."""
    return {attribute.name: {attribute.type: str(value)} for attribute, value in zip(role.key, values, strict=True)}


# --- smoke ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmokeResult:
    job_id: str
    job_seconds: float  # from sending to the job item being readable
    task_seconds: float
    history_entries: int  # the test's entries deleted from the history table (0: no history)
    settled: bool  # its messages had left the queue before the items were deleted
    settle_seconds: float  # the longest smoke waited for that


def marked_job_id(command: str) -> str:
    """A new test job's id: the prefix the publisher marks test events by, the command, a random part."""
    return f"{TEST_JOB_PREFIX}{command}-{uuid.uuid4().hex}"


def marked_job_notifications(job_id: str, now: datetime, job_name: str, outcome: str = "completed") -> list[dict]:
    """A job that ended with `outcome` (a JOB_EVENTS key) and its one task, shaped like real notifications."""
    moment = studio_datetime(now)
    job = {
        "JobID": job_id,
        "JobName": job_name,
        "UserName": "deadline-sqs",
        "FrameRange": "1-1",
        "NumberOfTasks": 1,
        "JobSubmitDateTime": moment,
        "JobStartedDateTime": moment,
        "JobCompletedDateTime": moment,
        "PluginName": "CommandScript",
    }
    task = {
        "JobID": job_id,
        "TaskID": 0,
        "FrameRange": "1-1",
        "WorkerName": "deadline-sqs",
        "Source": "deadline-sqs-test",
        "TaskStartDateTime": moment,
        "CompletedDateTime": moment,
        "Progress": "100 %",
    }
    timestamp = notification_timestamp(now)
    task_stop = outcome if outcome in TASK_STOPS else "completed"
    return [job_notification(job, outcome, timestamp), task_notification(task, timestamp, task_stop)]


def marked_job_keys(deployment: Deployment, job_id: str) -> dict[str, tuple[str, dict]]:
    """kind -> (table, key) of the test job's items."""
    key_values = {JOB: (job_id,), TASK: (job_id, 0)}
    return {kind: (deployment.tables[kind], item_key(TABLES[kind].role, values)) for kind, values in key_values.items()}


def store_marked_job(
    sqs, dynamodb, deployment: Deployment, job_id: str, notifications: list[dict], timeout: float, poll_seconds: float
) -> dict[str, float]:
    """Send the test job's notifications and wait until its items are stored: kind -> seconds from sending.

    A kind missing from the answer was not stored within `timeout`.
    """
    bodies = [json.dumps(body) for body in notifications]
    started = time.monotonic()
    report = send_bodies(sqs, deployment.queue_url, bodies)
    if report.failures:
        failure = report.failures[0]
        raise CommandError(
            f"could not send the test notifications to {deployment.queue_url}: {failure.code}: {failure.message}"
        )
    return _wait_for_items(dynamodb, marked_job_keys(deployment, job_id), started + timeout, poll_seconds, started)


def delete_marked_job(dynamodb, deployment: Deployment, job_id: str) -> int:
    """Delete the test job's items and, with a history table, its history entries: how many of those."""
    for table, key in marked_job_keys(deployment, job_id).values():
        _delete_item(dynamodb, table, key)
    return _delete_history(dynamodb, deployment.history_table, job_id)


def smoke(
    sqs,
    dynamodb,
    deployment: Deployment,
    timeout: float = 120,
    poll_seconds: float = 0.25,
    late_seconds: float | None = None,
    settle_seconds: float | None = None,
) -> SmokeResult:
    """Send a test job and task notification with a unique id, wait until both are stored, delete them
    (and their history entries, with a history table).

    Before deleting, it waits until the queue holds no message, waiting or in flight, for at most
    `settle_seconds` (default: the queue's visibility timeout plus SMOKE_LATE_SECONDS): a test
    message whose batch ran out of time after storing its item comes back once that timeout has
    passed and would store the item again after its deletion. On a queue that other traffic keeps
    busy, it deletes them after that wait (SmokeResult.settled is False).

    The test items (and history entries) are deleted however it ends. After a timeout,
    notifications still on their way may be stored later: for up to `late_seconds` more
    (default: as long as the timeout, at most SMOKE_LATE_SECONDS), any that arrive are deleted too.
    """
    late_seconds = min(timeout, SMOKE_LATE_SECONDS) if late_seconds is None else late_seconds
    if settle_seconds is None:
        with about(f"queue {deployment.queue_url}"):
            attributes = sqs.get_queue_attributes(QueueUrl=deployment.queue_url, AttributeNames=["VisibilityTimeout"])
        settle_seconds = int(attributes["Attributes"]["VisibilityTimeout"]) + SMOKE_LATE_SECONDS
    job_id = marked_job_id("smoke")
    notifications = marked_job_notifications(job_id, datetime.now(UTC), "deadline-sqs smoke test")
    keys = marked_job_keys(deployment, job_id)
    started = time.monotonic()
    settled = False
    try:
        seen = store_marked_job(sqs, dynamodb, deployment, job_id, notifications, timeout, poll_seconds)
        missing = sorted(set(keys) - set(seen))
        settled = not missing and _wait_until_queue_empty(sqs, deployment.queue_url, settle_seconds, poll_seconds)
    finally:
        history_entries = delete_marked_job(dynamodb, deployment, job_id)
    if missing:
        late = _wait_for_items(dynamodb, {kind: keys[kind] for kind in missing}, time.monotonic() + late_seconds,
                               poll_seconds, started, delete=True)
        _delete_history(dynamodb, deployment.history_table, job_id)
        stored_late = f"; the {' and '.join(sorted(late))} item arrived late and was deleted" if late else ""
        raise CommandError(
            f"the test {' and '.join(missing)} notification (JobID {job_id}) was not stored within {timeout:.0f} s"
            f"{stored_late}: check the function's logs and the dead-letter queue (deadline-sqs dlq). The test "
            f"items were deleted; a test notification still in the queue after {late_seconds:.0f} s more may be "
            f"stored later: `deadline-sqs status {job_id}` shows it"
        )
    return SmokeResult(job_id, seen[JOB], seen[TASK], history_entries, settled, settle_seconds)


def _wait_until_queue_empty(sqs, queue_url: str, seconds: float, poll_seconds: float) -> bool:
    """True once the queue holds no message, waiting, in flight or delayed (read SMOKE_EMPTY_READS times in a
    row); False if it still holds some after `seconds`."""
    deadline = time.monotonic() + seconds
    empty_reads = 0
    while True:
        empty_reads = empty_reads + 1 if queue_depth(sqs, queue_url) == 0 else 0
        if empty_reads >= SMOKE_EMPTY_READS:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_seconds)


def _delete_history(dynamodb, table: str, job_id: str) -> int:
    """Delete every history entry of the job (none without a history table); how many there were."""
    if not table:
        return 0
    with about(f"table {table}"):
        entries = _history_items(dynamodb, table, job_id, keys_only=True)
    for entry in entries:
        _delete_item(dynamodb, table, entry)
    return len(entries)


def _wait_for_items(
    dynamodb, keys: dict, deadline: float, poll_seconds: float, started: float, delete: bool = False
) -> dict[str, float]:
    """Poll until every item is readable or the deadline: kind -> seconds from `started` (deleting each, if asked)."""
    seen: dict[str, float] = {}
    while True:
        for kind, (table, key) in keys.items():
            if kind in seen:
                continue
            with about(f"table {table}"):
                found = "Item" in dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
            if found:
                seen[kind] = time.monotonic() - started
                if delete:
                    _delete_item(dynamodb, table, key)
        if len(seen) == len(keys) or time.monotonic() >= deadline:
            return seen
        time.sleep(poll_seconds)


def _delete_item(dynamodb, table: str, key: dict) -> None:
    with about(f"table {table}"):
        dynamodb.delete_item(TableName=table, Key=key)


# --- status --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobStatus:
    job: dict | None  # the stored job item, as plain Python values
    tasks: list[dict]


_deserializer = TypeDeserializer()


def _plain(item: dict) -> dict:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def job_status(dynamodb, deployment: Deployment, job_id: str) -> JobStatus:
    """The job's stored item and every stored task of it (a Query on the task table)."""
    job_table, task_table = deployment.tables[JOB], deployment.tables[TASK]
    with about(f"table {job_table}"):
        job = dynamodb.get_item(TableName=job_table, Key=item_key(TABLES[JOB].role, (job_id,)), ConsistentRead=True)
    tasks = []
    with about(f"table {task_table}"):
        for page in dynamodb.get_paginator("query").paginate(
            TableName=task_table,
            KeyConditionExpression="job_id = :job",
            ExpressionAttributeValues={":job": {"S": job_id}},
            ConsistentRead=True,
        ):
            tasks.extend(_plain(item) for item in page["Items"])
    if "Item" not in job and not tasks:
        raise CommandError(f"no job {job_id} in {job_table} or {task_table}")
    return JobStatus(_plain(job["Item"]) if "Item" in job else None, tasks)


def format_status(status: JobStatus, job_id: str) -> str:
    lines = []
    if status.job:
        details = status.job.get("job_details", {})
        lines.append(
            f"Job {job_id}  {details.get('JobName', '')}  {details.get('JobStatus', '?')}  "
            f"({status.job.get('task_type', '')} at {status.job.get('timestamp', '')})"
        )
        lines.append(
            f"  user {details.get('UserName', '')}, plugin {details.get('PluginName', '')}, "
            f"frames {details.get('FrameRange', '')}, {details.get('NumberOfTasks', '?')} tasks, "
            f"{details.get('NumberOfErrors', 0)} errors"
        )
    else:
        lines.append(f"Job {job_id}: no job notification stored yet")
    lines.append(f"Tasks stored: {len(status.tasks)}")
    header = f"  {'task':>5}  {'status':<10} {'frames':<11} {'worker':<16} {'progress':<8} timestamp"
    if status.tasks:
        lines.append(header)
    for task in status.tasks:
        details = task.get("task_details", {})
        lines.append(
            f"  {task['task_id']:>5}  {details.get('Status', '?'):<10} {details.get('FrameRange', ''):<11} "
            f"{details.get('WorkerName', ''):<16} {details.get('Progress', ''):<8} {task.get('timestamp', '')}"
        )
    return "\n".join(lines)


# --- history -------------------------------------------------------------------------------


def job_history(dynamodb, table: str, job_id: str) -> list[dict]:
    """Every notification of the job and its tasks in the history table, oldest first (one Query)."""
    entries = [_plain(item) for item in _history_items(dynamodb, table, job_id)]
    if not entries:
        raise CommandError(f"no notification of job {job_id} in {table} (kept for the configured days)")
    return entries


def _history_items(dynamodb, table: str, job_id: str, keys_only: bool = False) -> list[dict]:
    """The job's history items as DynamoDB returns them, oldest first (with `keys_only`, just their keys)."""
    names = {"#job": HISTORY_PARTITION_KEY.name}
    projection = {}
    if keys_only:
        names["#timeline"] = HISTORY_SORT_KEY
        projection = {"ProjectionExpression": "#job, #timeline"}
    items = []
    for page in dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="#job = :job",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":job": {HISTORY_PARTITION_KEY.type: job_id}},
        ConsistentRead=True,
        **projection,
    ):
        items.extend(page["Items"])
    return items


def _entry_role(entry: dict) -> TableRole:
    """The table a history entry's notification was stored in: the role whose whole key it has."""
    return max((role for role in TABLE_ROLES.values() if all(n in entry for n in role.key_names)), key=lambda r: len(r.key))


def format_history(entries: list[dict], job_id: str) -> str:
    tasks = {entry["task_id"] for entry in entries if _entry_role(entry).kind == TASK}
    lines = [f"Job {job_id}: {len(entries)} notifications (the job's and {len(tasks)} tasks'), oldest first"]
    lines.append(f"  {'time (UTC)':<28}  {'what':<9} {'status':<10} {'worker':<16} {'errors':>6}  notification")
    for entry in entries:
        role = _entry_role(entry)
        details = entry.get(KEY_MAPPING[role.details_field]) or {}
        info = entry.get(KEY_MAPPING["NotificationInfo"]) or {}
        what = "job" if role.kind == JOB else f"task {entry['task_id']}"
        reason = info.get("StatusReason") or info.get("StopReason") or ""
        lines.append(
            f"  {entry[HISTORY_SORT_KEY].split('#')[0]:<28}  {what:<9} {details.get(role.status_field) or '?':<10} "
            f"{details.get('WorkerName') or '':<16} {details.get('NumberOfErrors', ''):>6}  "
            f"{entry.get('task_type', '')}{': ' + reason if reason else ''}"
        )
    return "\n".join(lines)


# --- redrive -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoveTask:
    status: str
    moved: int
    to_move: int | None
    failure: str | None = None


def redrive(
    sqs,
    deployment: Deployment,
    max_per_second: int | None = None,
    wait: bool = True,
    timeout: float = 900,
    poll_seconds: float = 2,
) -> MoveTask:
    """Move the DLQ's messages back with SQS's native message-move task (StartMessageMoveTask)."""
    source = queue_arn(sqs, deployment.dead_letter_queue_url)
    request: dict[str, str | int] = {"SourceArn": source}
    if deployment.queue_url:
        request["DestinationArn"] = queue_arn(sqs, deployment.queue_url)
    if max_per_second:
        request["MaxNumberOfMessagesPerSecond"] = max_per_second
    with about(f"dead-letter queue {deployment.dead_letter_queue_url}"):
        try:
            sqs.start_message_move_task(**request)
        except ClientError as error:
            if error_code(error) != "500":  # AWS names its errors; moto's bare 500 is HTML
                raise
            raise CommandError(
                f"the SQS endpoint {sqs.meta.endpoint_url} failed on StartMessageMoveTask (HTTP 500); local SQS "
                "(moto 5.2.5) does not implement message-move tasks, so redrive works against AWS only"
            ) from None
    deadline = time.monotonic() + timeout
    while True:
        with about(f"dead-letter queue {deployment.dead_letter_queue_url}"):
            results = sqs.list_message_move_tasks(SourceArn=source, MaxResults=1)["Results"]
        task = results[0] if results else {"Status": "RUNNING"}
        to_move = task.get("ApproximateNumberOfMessagesToMove")
        state = MoveTask(
            task["Status"],
            int(task.get("ApproximateNumberOfMessagesMoved", 0)),
            None if to_move is None else int(to_move),
            task.get("FailureReason"),
        )
        if not wait or state.status in MOVE_TASK_DONE:
            return state
        if time.monotonic() > deadline:
            raise CommandError(f"the message-move task is still {state.status} after {timeout:.0f} s")
        time.sleep(poll_seconds)
