"""What the ordering attribute costs in write units, on the generated stream's items.

Every good notification of the throughput benchmark's stream (same seed and farm) is
read by the processor into the item it stores, then written to DynamoDB Local
unconditionally in three forms: without an ordering attribute (as the documented
Lambda's schema), with the former binary one (`v`, 16 bytes), and as stored now (`o`, a
Number of up to 38 digits). DynamoDB Local reports each put's write units
(ReturnConsumedCapacity=TOTAL); one unit per started KB, so most notifications, just
under 1 KB, pay for every byte added only when it takes them over.

    .venv/bin/python -m bench.ordering_cost [--jobs 20 --tasks-per-job 50 --seed N]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import results
from bench.replay import queue_messages
from bench.throughput import DEFAULT_JOBS, DEFAULT_TASKS_PER_JOB, SEED
from local_pipeline.engines import DynamoDBLocal
from local_pipeline.generator import TrafficSettings, generate
from local_pipeline.spec import PipelineSpec
from notification_processor.attributes import item_size
from notification_processor.notifications import ORDER_ATTRIBUTE, Notification, parse_record
from notification_processor.roles import TASK

FORMER_ORDER_ATTRIBUTE = {"v": {"B": bytes(16)}}  # the former form: 8 bytes of ticks, 8 of digest
FORMS: dict[str, Callable[[dict], dict]] = {
    "no ordering attribute": lambda item: {name: value for name, value in item.items() if name != ORDER_ATTRIBUTE},
    "former v (B, 16 bytes)": lambda item: {name: value for name, value in item.items() if name != ORDER_ATTRIBUTE}
    | FORMER_ORDER_ATTRIBUTE,
    f"{ORDER_ATTRIBUTE} (N, up to 38 digits), as stored": lambda item: item,
}


def measure(seed: int = SEED, jobs: int = DEFAULT_JOBS, tasks_per_job: int = DEFAULT_TASKS_PER_JOB) -> dict:
    from stacks.synth import synthesize_template  # imports the CDK: only when measuring

    spec = PipelineSpec.from_template(synthesize_template())
    traffic = generate(TrafficSettings(seed=seed, jobs=jobs, tasks_per_job=tasks_per_job))
    notifications = [parsed for message in queue_messages(traffic.messages, seed)
                     if isinstance(parsed := parse_record(message.lambda_record()), Notification)]
    forms = {}
    with DynamoDBLocal() as engine:
        client = engine.client()
        for number, (form, change) in enumerate(FORMS.items()):
            tables = {kind: f"{table.name}-ordering-{number}" for kind, table in spec.tables.items()}
            for kind, table in spec.tables.items():
                client.create_table(**table.create_table_kwargs(tables[kind]))
            units = sizes = 0
            for notification in notifications:
                item = change(notification.item)
                answer = client.put_item(TableName=tables[notification.kind], Item=item, ReturnConsumedCapacity="TOTAL")
                units += answer["ConsumedCapacity"]["CapacityUnits"]
                sizes += item_size(item)
            for name in tables.values():
                client.delete_table(TableName=name)
            forms[form] = {"wcu_per_item": units / len(notifications), "mean_item_bytes": sizes / len(notifications)}
    return {
        "settings": {"seed": seed, "jobs": jobs, "tasks_per_job": tasks_per_job},
        "items": len(notifications),
        "task_items": sum(notification.kind == TASK for notification in notifications),
        "forms": forms,
    }


def text(measured: dict, markdown: bool = False) -> str:
    settings, forms = measured["settings"], measured["forms"]
    without = forms["no ordering attribute"]
    rows = [[form, f"{figures['mean_item_bytes']:.1f}", f"{figures['wcu_per_item']:.3f}",
             f"+{figures['wcu_per_item'] - without['wcu_per_item']:.3f}"] for form, figures in forms.items()]
    title = (f"Write units of the {measured['items']:,} good notifications of {settings['jobs']} jobs x "
             f"{settings['tasks_per_job']} tasks (seed {settings['seed']}), each written once:")
    return title + "\n\n" + results.format_table(
        ["ordering attribute", "mean item bytes", "WCU per item", "over none"], rows, markdown)


def targets(measured: dict) -> list[results.Target]:
    return []  # a measurement for bench/README.md, not a target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass  # shares --seed, --jobs and --tasks-per-job with bench.throughput


def measure_from(args: argparse.Namespace) -> dict:
    return measure(args.seed, args.jobs, args.tasks_per_job)


if __name__ == "__main__":
    from bench import throughput

    parser = results.argument_parser("bench.ordering_cost", __doc__)
    throughput.add_arguments(parser)
    measured = measure_from(parser.parse_args())
    print(text(measured))
    results.write("ordering_cost", measured)
