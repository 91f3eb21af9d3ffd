"""The archiver Lambda: handler `archive.handler.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}  (or [])

Configured by the environment variable DELIVERY_STREAM_NAME (the Firehose stream), which the
stack sets. Built on the first event and reused for the container's life.
"""

from __future__ import annotations

import functools

from archive.archiver import Archiver


@functools.cache
def _archiver() -> Archiver:
    return Archiver.from_environment()


def main(event: dict, context) -> dict:
    return _archiver().handle(event, context)
