"""The publisher Lambda: handler `status_events.handler.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}  (or [])

Configured by environment variables, which the stack sets: EVENT_BUS_NAME and
STUDIO_NAME (required), PUBLISH (status_changes, the default, or all_changes),
NOTIFY_OPT_OUT_FIELD (ExtraInfo0 ... ExtraInfo9, default ExtraInfo9: carried as notifyOptOut). Built
on the first event and reused for the container's life.
"""

from __future__ import annotations

import functools

from status_events.publisher import StatusEventPublisher


@functools.cache
def _publisher() -> StatusEventPublisher:
    return StatusEventPublisher.from_environment()


def main(event: dict, context) -> dict:
    return _publisher().handle(event, context)
