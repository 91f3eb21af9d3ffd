"""The two handlers the benchmarks compare, each as it would run on Lambda."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from notification_processor import CLIENT_OPTIONS, BatchProcessor

from bench import lambda_logs
from bench.baseline import DocumentedExampleBaseline
from bench.deployment import Deployment

OURS = "ours"
BASELINE = "baseline"


@dataclass(frozen=True)
class Side:
    name: str
    client_options: dict  # botocore Config arguments of the client it runs with
    log_format: str
    root_log_level: int
    build: Callable  # (client, job_table, task_table) -> handle(event, context) -> {"batchItemFailures": [...]}


def ours(deployment: Deployment) -> Side:
    """Our processor, with its own client settings and the template's log format and level."""
    return Side(
        OURS,
        CLIENT_OPTIONS,
        deployment.log_format,
        deployment.application_log_level,
        lambda client, job_table, task_table: BatchProcessor(
            client, job_table, task_table, function_name="bench"
        ).handle,
    )


def baseline() -> Side:
    """The documented example: boto3's default client, a console-made function's text logs.

    Its own lines are at DEBUG (it sets that level itself); the root stays at INFO here,
    so botocore's DEBUG output, which the example would also log, is measured apart.
    """
    return Side(
        BASELINE,
        {},
        lambda_logs.TEXT,
        logging.INFO,
        lambda client, job_table, task_table: DocumentedExampleBaseline(client, job_table, task_table).handle,
    )
