"""What the synthesized stack would create, read from its CloudFormation template.

The local pipeline, the integration tests and the benchmarks build their queues and
tables from this, so a local run exercises exactly what `cdk deploy` would create:
the same table names and key schemas, redrive limit, visibility timeout and event
source settings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from deadline_sqs import CommandError
from stacks.roles import DEAD_LETTER_QUEUE, PROCESSOR_HANDLER, QUEUE, TABLES


class SpecError(CommandError):
    """The template does not describe the pipeline this tooling expects."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key_schema: list[dict]
    attribute_definitions: list[dict]

    def create_table_kwargs(self, name: str | None = None) -> dict:
        """Arguments for DynamoDB CreateTable (on-demand, like the stack)."""
        return {
            "TableName": name or self.name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    visibility_timeout: int
    retention_seconds: int


@dataclass(frozen=True)
class PipelineSpec:
    tables: dict[str, TableSpec]  # by role (stacks.roles.TABLES)
    queue: QueueSpec
    dead_letter_queue: QueueSpec
    max_receive_count: int
    batch_size: int
    max_batching_window_seconds: int
    max_concurrency: int | None
    report_batch_item_failures: bool
    environment: dict

    @classmethod
    def from_template(cls, template: dict) -> PipelineSpec:
        resources = template.get("Resources", {})

        def resource(logical_id: str, kind: str) -> dict:
            found = resources.get(logical_id)
            if not found or found.get("Type") != kind:
                raise SpecError(f"template has no {kind} with logical id {logical_id!r}")
            return found.get("Properties", {})

        def table(logical_id: str) -> TableSpec:
            props = resource(logical_id, "AWS::DynamoDB::Table")
            name = props.get("TableName")
            if not isinstance(name, str):
                raise SpecError(f"{logical_id} has no literal TableName")
            return TableSpec(name, props["KeySchema"], props["AttributeDefinitions"])

        def queue(logical_id: str) -> QueueSpec:
            props = resource(logical_id, "AWS::SQS::Queue")
            name = props.get("QueueName")
            return QueueSpec(
                logical_id=logical_id,
                name=name if isinstance(name, str) else logical_id,
                visibility_timeout=int(props.get("VisibilityTimeout", 30)),
                retention_seconds=int(props.get("MessageRetentionPeriod", 345600)),
            )

        redrive = resource(QUEUE.logical_id, "AWS::SQS::Queue").get("RedrivePolicy")
        if not redrive:
            raise SpecError(f"{QUEUE.logical_id} has no RedrivePolicy")

        mappings = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping"]
        if len(mappings) != 1:
            raise SpecError(f"expected one AWS::Lambda::EventSourceMapping, found {len(mappings)}")
        mapping = mappings[0]
        functions = [
            r["Properties"]
            for r in resources.values()
            if r.get("Type") == "AWS::Lambda::Function"
            and r["Properties"].get("Handler") == PROCESSOR_HANDLER
        ]
        if len(functions) != 1:
            raise SpecError(f"expected one function with handler {PROCESSOR_HANDLER}, found {len(functions)}")
        variables = functions[0].get("Environment", {}).get("Variables", {})

        return cls(
            tables={kind: table(resource.logical_id) for kind, resource in TABLES.items()},
            queue=queue(QUEUE.logical_id),
            dead_letter_queue=queue(DEAD_LETTER_QUEUE.logical_id),
            max_receive_count=int(redrive["maxReceiveCount"]),
            batch_size=int(mapping.get("BatchSize", 10)),
            max_batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
            max_concurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
            report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
            # Only literal values: references to the stack's own resources mean nothing locally.
            environment={k: v for k, v in variables.items() if isinstance(v, str)},
        )

    @classmethod
    def from_cdk_out(cls, cdk_out: Path | str = "cdk.out", stack_name: str | None = None) -> PipelineSpec:
        """Read the stack's template from a `cdk synth` output folder."""
        cdk_out = Path(cdk_out)
        manifest_path = cdk_out / "manifest.json"
        if not manifest_path.is_file():
            raise SpecError(f"{cdk_out} holds no synthesized app (no manifest.json): run `make synth` first")
        manifest = json.loads(manifest_path.read_text())
        stacks = {
            name: artifact["properties"]["templateFile"]
            for name, artifact in manifest.get("artifacts", {}).items()
            if artifact.get("type") == "aws:cloudformation:stack"
        }
        if stack_name is None:
            if len(stacks) != 1:
                raise SpecError(f"{cdk_out} holds {len(stacks)} stacks ({', '.join(sorted(stacks))}): name one")
            stack_name = next(iter(stacks))
        if stack_name not in stacks:
            raise SpecError(f"{cdk_out} has no stack {stack_name!r}; it has: {', '.join(sorted(stacks))}")
        return cls.from_template(json.loads((cdk_out / stacks[stack_name]).read_text()))
