"""The two handlers the benchmarks compare, each as it would run on Lambda."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bench import lambda_logs
from bench.baseline import DocumentedExampleBaseline
from bench.deployment import Deployment
from notification_processor import CLIENT_OPTIONS, BatchProcessor
from notification_processor.roles import JOB, TASK

OURS = "ours"
PUT_ITEM = "putitem"  # our processor with its earlier strategy: one conditional PutItem per key
BASELINE = "baseline"


@dataclass(frozen=True)
class Side:
    name: str
    client_options: dict  # botocore Config arguments of the client it runs with
    log_format: str
    root_log_level: int
    build: Callable  # (client, tables by role) -> handle(event, context) -> {"batchItemFailures": [...]}


def ours(deployment: Deployment, statements: bool = True) -> Side:
    """Our processor, with its own client settings and the template's log format and level;
    `statements=False`: its earlier write strategy, a conditional PutItem per key."""
    return Side(
        OURS if statements else PUT_ITEM,
        CLIENT_OPTIONS,
        deployment.log_format,
        deployment.application_log_level,
        lambda client, tables: BatchProcessor(client, tables, function_name="bench", statements=statements).handle,
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
        # The example names its two tables itself.
        lambda client, tables: DocumentedExampleBaseline(client, tables[JOB], tables[TASK]).handle,
    )
