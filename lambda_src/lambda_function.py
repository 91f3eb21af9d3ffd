"""The processor Lambda: handler `lambda_function.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": messageId}, ...]}

Configured by environment variables, which the stack sets: DYNAMODB_JOB_INFO_TABLE and
DYNAMODB_TASK_INFO_TABLE (required: without them every invocation fails with a
message naming them), MAX_TIMESTAMP_AHEAD_SECONDS (default 86400: how far a Timestamp
may lie after SQS received its message), METRICS_NAMESPACE (default
DeadlineNotifications) and, from Lambda, AWS_LAMBDA_FUNCTION_NAME (the metrics'
dimension; "local" elsewhere). The DynamoDB endpoint, region and credentials come from
boto3's own configuration. The processor is built on the first event and reused for
the container's life; on that first event it checks that each table has the key of its
role (DescribeTable).

Elsewhere (local pipeline, benchmarks, tests) the package is installed from lambda_src/:

    from notification_processor import BatchProcessor
    processor = BatchProcessor.from_environment(environ, client)  # as main's, on any client
    processor.handle(event, context)  # context may be None
"""

from __future__ import annotations

import functools

from notification_processor import BatchProcessor


@functools.cache
def _processor() -> BatchProcessor:
    return BatchProcessor.from_environment()


def main(event: dict, context) -> dict:
    return _processor().handle(event, context)
