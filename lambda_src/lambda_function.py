"""The processor Lambda: handler `lambda_function.main` (ReportBatchItemFailures on).

    main(event, context) -> {"batchItemFailures": [{"itemIdentifier": messageId}, ...]}

Configured by environment variables: DYNAMODB_JOB_INFO_TABLE (default
DeadlineJobNotifications), DYNAMODB_TASK_INFO_TABLE (default DeadlineTaskNotifications),
METRICS_NAMESPACE (default DeadlineNotifications) and, from Lambda,
AWS_LAMBDA_FUNCTION_NAME (the metrics' dimension; "local" elsewhere). The DynamoDB
endpoint, region and credentials come from boto3's own configuration, so DynamoDB
Local needs only AWS_ENDPOINT_URL_DYNAMODB. The processor is built on the first
event and reused for the container's life.

To run the processor in-process against other tables (local pipeline, benchmarks),
put lambda_src/ on sys.path (the Lambda runtime's root) and build one directly:

    from notification_processor import CLIENT_OPTIONS, BatchProcessor
    client = boto3.client("dynamodb", endpoint_url=..., config=Config(**CLIENT_OPTIONS))
    processor = BatchProcessor(client, job_table, task_table, log_stream=io.StringIO())
    processor.handle(event, context)  # context may be None

or `BatchProcessor.from_environment(environ, client)` to configure one like main's.
"""

from __future__ import annotations

import functools

from notification_processor import BatchProcessor


@functools.cache
def _processor() -> BatchProcessor:
    return BatchProcessor.from_environment()


def main(event: dict, context) -> dict:
    return _processor().handle(event, context)
