"""Stream records in, failures counted, alerts on the bus, `batchItemFailures` back to Lambda.

Records are handled in the stream's order. For each failure: count it (state.py), and
put every alert it completed; once the put succeeded the alert is settled. A retried
record is a duplicate for the count, and puts what its first delivery left pending, so
an alert decided is put at least once (a put whose answer was lost, or a concurrent
delivery of the same record, repeats it with the same eventId). On the first record
that fails (a put, a state that kept changing, DynamoDB unreachable) the monitor stops
and reports it: Lambda keeps everything before it as done.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from notification_processor.roles import JOB, TABLE_ROLES
from status_events.publisher import CLIENT_OPTIONS, EVENT_BUS_VARIABLE, STUDIO_VARIABLE

from .alerts import alert_entry, event_id, job_ids, job_names
from .failures import failure_of
from .state import StateConflict, WorkerFailureStore
from .window import Alert, Rule

STATE_TABLE_VARIABLE = "WORKER_FAILURE_TABLE"
JOB_TABLE_VARIABLE = TABLE_ROLES[JOB].environment_variable  # read only: for the jobs' names
JOBS_VARIABLE = "FAILING_WORKER_JOBS"
MINUTES_VARIABLE = "FAILING_WORKER_MINUTES"
REQUIRED = (STATE_TABLE_VARIABLE, JOB_TABLE_VARIABLE, EVENT_BUS_VARIABLE, STUDIO_VARIABLE, JOBS_VARIABLE, MINUTES_VARIABLE)


class ConfigurationError(RuntimeError):
    """The environment does not say where the state is, where to publish, or the rule."""


class FarmHealthMonitor:
    def __init__(self, dynamodb, events, *, state_table: str, job_table: str, bus_name: str, studio: str, rule: Rule,
                 log_stream=None):  # fmt: skip
        self._dynamodb = dynamodb
        self._events = events
        self.store = WorkerFailureStore(dynamodb, state_table)
        self.job_table = job_table
        self.bus_name = bus_name
        self.studio = studio
        self.rule = rule
        self._stream = log_stream

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ, dynamodb=None, events=None) -> FarmHealthMonitor:
        missing = [name for name in REQUIRED if not environ.get(name)]
        if missing:
            raise ConfigurationError(f"the environment does not configure the failing-worker check: set {', '.join(missing)}")
        try:
            rule = Rule(jobs=int(environ[JOBS_VARIABLE]), minutes=int(environ[MINUTES_VARIABLE]))
        except ValueError:
            raise ConfigurationError(f"{JOBS_VARIABLE} and {MINUTES_VARIABLE} must be whole numbers") from None
        if rule.jobs < 1 or rule.minutes < 1:
            raise ConfigurationError(f"{JOBS_VARIABLE} and {MINUTES_VARIABLE} must be at least 1")
        config = Config(**CLIENT_OPTIONS)
        return cls(
            dynamodb or boto3.client("dynamodb", config=config),
            events or boto3.client("events", config=config),
            state_table=environ[STATE_TABLE_VARIABLE],
            job_table=environ[JOB_TABLE_VARIABLE],
            bus_name=environ[EVENT_BUS_VARIABLE],
            studio=environ[STUDIO_VARIABLE],
            rule=rule,
        )

    def handle(self, event: dict, context=None) -> dict:
        records = event.get("Records", [])
        counted = duplicates = alerts = 0
        failed_at = None
        for record in records:
            failure = failure_of(record)
            if failure is None:
                continue  # the event filter's job; checked again here
            try:
                result = self.store.count(failure, self.rule)
                duplicates += result.duplicate
                counted += not result.duplicate
                for alert in result.state.pending:
                    if alert.trigger == failure.notification_id:  # this record's alert: its first put, or a retry's
                        self._put(alert)
                        self.store.settle(failure.worker, alert.trigger)
                        alerts += 1
            except (ClientError, BotoCoreError, StateConflict) as error:
                failed_at = record["dynamodb"]["SequenceNumber"]
                self._log("ERROR", "failure_not_counted", sequenceNumber=failed_at, worker=failure.worker,
                          error=f"{type(error).__name__}: {error}")  # fmt: skip
                break
        self._log("INFO", "failures_counted", Records=len(records), Counted=counted, Duplicates=duplicates,
                  Alerts=alerts, requestId=getattr(context, "aws_request_id", None),
                  **({"RetryFrom": failed_at} if failed_at else {}))  # fmt: skip
        return {"batchItemFailures": [{"itemIdentifier": failed_at}] if failed_at else []}

    def _put(self, alert: Alert) -> None:
        names = job_names(self._dynamodb, self.job_table, job_ids(alert))
        response = self._events.put_events(Entries=[alert_entry(alert, self.studio, self.bus_name, names)])
        if response.get("FailedEntryCount"):
            (result,) = response["Entries"]
            raise ClientError(
                {"Error": {"Code": result.get("ErrorCode", "PutEventsFailed"), "Message": result.get("ErrorMessage", "")}},
                "PutEvents",
            )
        self._log("INFO", "worker_failing", worker=alert.worker, eventId=event_id(alert), failedTasks=len(alert.failures))

    def _log(self, level: str, event: str, **fields) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"level": level, "event": event, **fields}, separators=(",", ":"), default=str) + "\n")
        stream.flush()
