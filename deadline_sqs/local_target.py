"""Where `deadline-sqs local` runs: the file it writes, which the operator commands read with `--local`.

`deadline-sqs local` (in local_pipeline) writes LOCAL_TARGET_FILE in the folder it runs in,
with its engines' endpoints and the stack's queue URLs and table names, and removes it when
it stops. This package only reads it, so it never imports the local harness.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3

from deadline_sqs import CommandError
from deadline_sqs.deployment import Deployment

LOCAL_TARGET_FILE = Path(".deadline-sqs") / "local.json"
# Where the local pipeline (the demo, `deadline-sqs local`) writes its archive: Parquet, as the stack's bucket holds it.
LOCAL_ARCHIVE_FOLDER = Path(".deadline-sqs") / "archive"


@dataclass(frozen=True)
class LocalTarget:
    endpoints: dict[str, str]  # service ("sqs", "dynamodb", "events", "sns") -> endpoint URL
    region: str
    credentials: dict[str, str]  # the local engines accept any; fixed ones keep boto3 from looking for real ones
    queue_url: str
    dead_letter_queue_url: str
    tables: dict[str, str] = field(default_factory=dict)  # by role (stacks.roles.TABLES)
    history_table: str = ""  # empty: the stack has no history
    pid: int = 0  # the `deadline-sqs local` process
    bus_name: str = ""  # empty: the stack has no status-change events
    alert_queue_url: str = ""  # the alert rules' target, standing in for the alarm topic (moto has no SNS target)
    alert_statuses: list[str] = field(default_factory=list)  # the job statuses the alert rules send on
    job_notification_topic_arn: str = ""  # empty: the stack has no job-notification topic
    job_notification_statuses: list[str] = field(default_factory=list)

    @property
    def deployment(self) -> Deployment:
        return Deployment(
            self.queue_url,
            self.dead_letter_queue_url,
            dict(self.tables),
            self.history_table,
            found_in="the local pipeline (`deadline-sqs local`)",
            history_fix='synthesize with it on (make synth CONTEXT="-c history=true") and restart `deadline-sqs local`',
        )

    def session(self) -> LocalSession:
        return LocalSession(self)


class LocalSession:
    """Like a boto3 Session for the commands: `client(service)` reaches the local engine for it."""

    def __init__(self, target: LocalTarget):
        self.target = target

    def client(self, service: str, **options):
        endpoint = self.target.endpoints.get(service)
        if endpoint is None:
            raise CommandError(f"the local pipeline has no {service} endpoint (it runs {', '.join(self.target.endpoints)})")
        return boto3.client(
            service, endpoint_url=endpoint, region_name=self.target.region, **self.target.credentials, **options
        )


def write_local_target(target: LocalTarget, path: Path = LOCAL_TARGET_FILE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(asdict(target), indent=1) + "\n")
    staging.replace(path)  # readers never see half a file
    return path


def remove_local_target(path: Path = LOCAL_TARGET_FILE) -> None:
    path.unlink(missing_ok=True)


def read_local_target(path: Path = LOCAL_TARGET_FILE) -> LocalTarget:
    """The running local pipeline's target; a CommandError says how to start one if there is none."""
    try:
        target = LocalTarget(**json.loads(path.read_text()))
    except FileNotFoundError:
        raise CommandError(
            f"no local pipeline here ({path} does not exist): start `deadline-sqs local` in this folder first"
        ) from None
    except (ValueError, TypeError) as error:
        raise CommandError(f"{path} is not a local pipeline's target file ({error}): restart `deadline-sqs local`") from None
    if target.pid and not _running(target.pid):
        raise CommandError(
            f"{path} was left by a `deadline-sqs local` that has stopped (process {target.pid}): start it again"
        )
    return target


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
