"""A qualifying window (window.Alert) -> the `Deadline Worker Failing Tasks` event.

Its detail: studio, workerName, jobs ([{jobId, jobName}], in the order they first
failed), failedTasks (the window's failures), firstFailure and lastFailure (their
Timestamps), reasons (the last few distinct ones, newest first), summary (one
readable line: the alert rule sends it), eventId and, when every job is a test job of
smoke or verify, test: true. The eventId digests the worker and the failure that
completed the window: a repeated put of one alert carries the same id, and receivers
drop it. Task notifications carry no job name: the name comes from the job table where
the job's notification has arrived (JobDetails.JobName), else it is the job id.
"""

from __future__ import annotations

import hashlib
import json

from notification_processor.attributes import KEY_MAPPING
from notification_processor.identity import ID_HEX_DIGITS
from notification_processor.roles import JOB, TABLE_ROLES
from status_events.changes import SOURCE, TEST_FIELD

from . import WORKER_FAILING_TYPE
from .window import Alert

SHOWN_REASONS = 3
SHOWN_JOB_NAMES = 5  # in the summary line; the detail's jobs list has every job
MAX_KEYS_PER_READ = 100  # BatchGetItem's limit
_JOB = TABLE_ROLES[JOB]
_JOB_KEY = _JOB.key[0].name
_JOB_DETAILS = KEY_MAPPING[_JOB.details_field]


def event_id(alert: Alert) -> str:
    text = f"worker-failing#{alert.worker}#{alert.trigger}"
    return hashlib.sha256(text.encode()).hexdigest()[:ID_HEX_DIGITS]


def job_ids(alert: Alert) -> list[str]:
    """The window's jobs, in the order they first failed."""
    return list(dict.fromkeys(failure.job_id for failure in alert.failures))


def alert_detail(alert: Alert, studio: str, job_names: dict[str, str]) -> dict:
    jobs = [{"jobId": job, "jobName": job_names.get(job) or job} for job in job_ids(alert)]
    reasons = list(dict.fromkeys(f.reason for f in reversed(alert.failures) if f.reason))[:SHOWN_REASONS]
    first, last = alert.failures[0].timestamp, alert.failures[-1].timestamp
    names = ", ".join(job["jobName"] for job in jobs[:SHOWN_JOB_NAMES]) + (", ..." if len(jobs) > SHOWN_JOB_NAMES else "")
    summary = (
        f"{alert.worker} failed {len(alert.failures)} tasks of {len(jobs)} jobs ({names}) from {first} to {last}"
        + (f"; last reasons: {' | '.join(reasons)}" if reasons else "")
    )
    detail = {
        "studio": studio,
        "workerName": alert.worker,
        "jobs": jobs,
        "failedTasks": len(alert.failures),
        "firstFailure": first,
        "lastFailure": last,
        "reasons": reasons,
        "summary": summary,
        "eventId": event_id(alert),
    }
    if all(failure.test for failure in alert.failures):
        detail[TEST_FIELD] = True
    return detail


def alert_entry(alert: Alert, studio: str, bus_name: str, job_names: dict[str, str]) -> dict:
    """The PutEvents entry (its Time is EventBridge's: the window's Timestamps are in the detail)."""
    return {
        "Source": SOURCE,
        "DetailType": WORKER_FAILING_TYPE,
        "Detail": json.dumps(alert_detail(alert, studio, job_names), separators=(",", ":")),
        "EventBusName": bus_name,
    }


def job_names(client, table: str, jobs: list[str]) -> dict[str, str]:
    """JobDetails.JobName of each job the job table holds (BatchGetItem; what it leaves unprocessed is left out)."""
    names: dict[str, str] = {}
    for start in range(0, len(jobs), MAX_KEYS_PER_READ):
        keys = [{_JOB_KEY: {"S": job}} for job in jobs[start : start + MAX_KEYS_PER_READ]]
        response = client.batch_get_item(
            RequestItems={
                table: {
                    "Keys": keys,
                    "ProjectionExpression": "#id, #d.JobName",
                    "ExpressionAttributeNames": {"#id": _JOB_KEY, "#d": _JOB_DETAILS},
                }
            }
        )
        for item in response.get("Responses", {}).get(table, []):
            name = item.get(_JOB_DETAILS, {}).get("M", {}).get("JobName", {}).get("S")
            if name:
                names[item[_JOB_KEY]["S"]] = name
    return names
