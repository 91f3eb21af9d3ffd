"""The failing-worker Lambda: handler `farm_health.handler.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}  (or [])

Configured by environment variables, which the stack sets: WORKER_FAILURE_TABLE (the
state), DYNAMODB_JOB_INFO_TABLE (read for job names), EVENT_BUS_NAME, STUDIO_NAME,
FAILING_WORKER_JOBS and FAILING_WORKER_MINUTES (the rule). Built on the first event and
reused for the container's life.
"""

from __future__ import annotations

import functools

from farm_health.monitor import FarmHealthMonitor


@functools.cache
def _monitor() -> FarmHealthMonitor:
    return FarmHealthMonitor.from_environment()


def main(event: dict, context) -> dict:
    return _monitor().handle(event, context)
