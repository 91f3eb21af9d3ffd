"""Failing workers (the third Lambda's code, handler farm_health.handler.main).

The history table streams every distinct notification once (NEW_IMAGE). Lambda's event
filter passes on the INSERTs of task entries whose stored status is Failed; `failures`
reads each as a Failure, `window` is the counting rule (pure), `state` keeps it in
DynamoDB with conditional writes, `alerts` turns a window that qualifies into the
`Deadline Worker Failing Tasks` event and `monitor` ties them together.
"""

from status_events.changes import SOURCE

WORKER_FAILING_TYPE = "Deadline Worker Failing Tasks"

__all__ = ["SOURCE", "WORKER_FAILING_TYPE"]
