"""What the synthesized stack would create, read from its CloudFormation template.

The local pipeline, the integration tests and the benchmarks build their queues and
tables from this, so a local run exercises exactly what `cdk deploy` would create:
the same table names, key schemas and streams, redrive limit, visibility timeout and
event source settings, and (when the stack has them) the status-change bus, its
publisher's settings and its alert rules, and the history table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from deadline_sqs import CommandError
from deliveries.destinations import DESTINATIONS_VARIABLE, WEBHOOK
from deliveries.webhooks import JSON_FORMAT
from stacks.destinations import rule_name
from stacks.roles import (
    DEAD_LETTER_QUEUE,
    DELIVERY_DEAD_LETTER_QUEUE,
    DELIVERY_QUEUE,
    DELIVERY_STATE_TABLE,
    EVENT_BUS,
    FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID,
    FARM_HEALTH_HANDLER,
    HISTORY_TABLE,
    PROCESSOR_HANDLER,
    PUBLISH_FAILURE_QUEUE,
    PUBLISHER_HANDLER,
    QUEUE,
    SENDER_HANDLER,
    TABLES,
    WORKER_FAILURE_TABLE_LOGICAL_ID,
)


class SpecError(CommandError):
    """The template does not describe the pipeline this tooling expects."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key_schema: list[dict]
    attribute_definitions: list[dict]
    stream_view_type: str | None = None  # None: no stream
    ttl_attribute: str | None = None

    def create_table_kwargs(self, name: str | None = None) -> dict:
        """Arguments for DynamoDB CreateTable (on-demand, like the stack, with its stream)."""
        kwargs = {
            "TableName": name or self.name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream_view_type:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": self.stream_view_type}
        return kwargs


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    visibility_timeout: int
    retention_seconds: int


@dataclass(frozen=True)
class RuleSpec:
    """A rule on the status-change bus: its pattern, and what its (one) target receives."""

    logical_id: str
    event_pattern: dict
    input_transformer: dict | None  # None: the whole event
    target_kind: str  # the target's service: "sns" for the job alerts


@dataclass(frozen=True)
class StatusEventsSpec:
    bus_name: str
    failure_queue: QueueSpec
    environment: dict  # the publisher's literal variables (the bus's name is a reference: see bus_name)
    batch_size: int
    retry_attempts: int
    report_batch_item_failures: bool
    rules: list[RuleSpec]

    @property
    def alert_rules(self) -> list[RuleSpec]:
        """The job alerts' rules (to the alarm topic)."""
        return [rule for rule in self.rules if rule.target_kind == "sns"]

    @property
    def delivery_rules(self) -> list[RuleSpec]:
        """The destinations' rules (to DeliveryQueue, for the sender)."""
        return [rule for rule in self.rules if rule.target_kind == "sqs"]


@dataclass(frozen=True)
class DeliveriesSpec:
    """The sender (issue 17): its queues, its state table, its variables as the template has them (its
    destinations refer to the stack's topics: ``references`` resolves them), and the stack's SNS topics."""

    queue: QueueSpec
    dead_letter_queue: QueueSpec
    max_receive_count: int
    state_table: TableSpec
    environment: dict
    batch_size: int
    report_batch_item_failures: bool
    topics: dict[str, str]  # logical id -> TopicName, of every topic the sender publishes to
    alarm_subscription: bool  # DeliveryQueue is subscribed to the alarm topic


@dataclass(frozen=True)
class WebhookSpec:
    """A webhook (issue 17) as the template has it: its rule's pattern, and how it is reached: through the
    sender (its destination in the sender's environment) or an API destination (its connection's header)."""

    name: str
    format: str
    event_pattern: dict
    api_destination: bool
    target: str  # the sender's: the URL's secret id, or the plain URL; an API destination's endpoint
    url_is_secret: bool
    auth_header: str | None
    auth_secret: str | None  # the header's secret (the sender's, or the connection's dynamic reference)
    auth_value: str | None  # an API destination's fixed header value (no secret)


@dataclass(frozen=True)
class FarmHealthSpec:
    """The failing-worker check: its state table, failure queue, environment and history stream mapping."""

    state_table: TableSpec
    failure_queue: QueueSpec
    environment: dict  # the function's literal variables (the tables' and the bus's names are references)
    batch_size: int
    retry_attempts: int
    report_batch_item_failures: bool
    filter_patterns: list[dict]  # the mapping's FilterCriteria, parsed


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
    status_events: StatusEventsSpec | None = None
    history_table: TableSpec | None = None
    farm_health: FarmHealthSpec | None = None
    deliveries: DeliveriesSpec | None = None
    webhooks: tuple[WebhookSpec, ...] = ()

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
            ttl = props.get("TimeToLiveSpecification", {})
            return TableSpec(
                name,
                props["KeySchema"],
                props["AttributeDefinitions"],
                props.get("StreamSpecification", {}).get("StreamViewType"),
                ttl.get("AttributeName") if ttl.get("Enabled") else None,
            )

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

        def mappings_from(logical_id: str, attribute: str) -> list[dict]:
            return [
                r["Properties"]
                for r in resources.values()
                if r.get("Type") == "AWS::Lambda::EventSourceMapping"
                and r["Properties"].get("EventSourceArn") == {"Fn::GetAtt": [logical_id, attribute]}
            ]

        def literal_environment(handler: str) -> dict:
            functions = [
                r["Properties"]
                for r in resources.values()
                if r.get("Type") == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
            ]
            if len(functions) != 1:
                raise SpecError(f"expected one function with handler {handler}, found {len(functions)}")
            variables = functions[0].get("Environment", {}).get("Variables", {})
            # Only literal values: references to the stack's own resources mean nothing locally.
            return {k: v for k, v in variables.items() if isinstance(v, str)}

        def status_events() -> StatusEventsSpec | None:
            if EVENT_BUS.logical_id not in resources:
                return None
            bus = resource(EVENT_BUS.logical_id, "AWS::Events::EventBus")
            streams = [m for kind in TABLES.values() for m in mappings_from(kind.logical_id, "StreamArn")]
            if len(streams) != len(TABLES):
                raise SpecError(f"expected a stream event source mapping per table, found {len(streams)}")
            rules = [
                RuleSpec(
                    logical_id,
                    r["Properties"]["EventPattern"],
                    target.get("InputTransformer"),
                    _target_service(target["Arn"], resources),
                )
                for logical_id, r in resources.items()
                if r.get("Type") == "AWS::Events::Rule"
                and r["Properties"].get("EventBusName") == {"Ref": EVENT_BUS.logical_id}
                for target in r["Properties"].get("Targets", [])
            ]
            return StatusEventsSpec(
                bus_name=bus["Name"],
                failure_queue=queue(PUBLISH_FAILURE_QUEUE.logical_id),
                environment=literal_environment(PUBLISHER_HANDLER),
                batch_size=int(streams[0].get("BatchSize", 100)),
                retry_attempts=int(streams[0].get("MaximumRetryAttempts", -1)),
                report_batch_item_failures="ReportBatchItemFailures" in streams[0].get("FunctionResponseTypes", []),
                rules=rules,
            )

        def farm_health() -> FarmHealthSpec | None:
            if WORKER_FAILURE_TABLE_LOGICAL_ID not in resources:
                return None
            # The history's stream has another reader with reports on (the archiver): the check's is its function's.
            (function_id,) = [
                logical_id
                for logical_id, r in resources.items()
                if r.get("Type") == "AWS::Lambda::Function" and r["Properties"].get("Handler") == FARM_HEALTH_HANDLER
            ] or [None]
            found = mappings_from(HISTORY_TABLE.logical_id, "StreamArn")
            streams = [m for m in found if m.get("FilterCriteria") and m.get("FunctionName") == {"Ref": function_id}]
            if len(streams) != 1:
                raise SpecError(
                    f"expected one filtered event source mapping of {FARM_HEALTH_HANDLER} on the history's stream, "
                    f"found {len(streams)}"
                )
            (stream,) = streams
            return FarmHealthSpec(
                state_table=table(WORKER_FAILURE_TABLE_LOGICAL_ID),
                failure_queue=queue(FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID),
                environment=literal_environment(FARM_HEALTH_HANDLER),
                batch_size=int(stream.get("BatchSize", 100)),
                retry_attempts=int(stream.get("MaximumRetryAttempts", -1)),
                report_batch_item_failures="ReportBatchItemFailures" in stream.get("FunctionResponseTypes", []),
                filter_patterns=[json.loads(f["Pattern"]) for f in stream["FilterCriteria"]["Filters"]],
            )

        def deliveries() -> DeliveriesSpec | None:
            if DELIVERY_QUEUE.logical_id not in resources:
                return None
            (sender_mapping,) = mappings_from(DELIVERY_QUEUE.logical_id, "Arn")
            (sender,) = [
                r["Properties"] for r in resources.values()
                if r.get("Type") == "AWS::Lambda::Function" and r["Properties"].get("Handler") == SENDER_HANDLER
            ]
            queue_props = resource(DELIVERY_QUEUE.logical_id, "AWS::SQS::Queue")
            return DeliveriesSpec(
                queue=queue(DELIVERY_QUEUE.logical_id),
                dead_letter_queue=queue(DELIVERY_DEAD_LETTER_QUEUE.logical_id),
                max_receive_count=int(queue_props["RedrivePolicy"]["maxReceiveCount"]),
                state_table=table(DELIVERY_STATE_TABLE.logical_id),
                environment=sender.get("Environment", {}).get("Variables", {}),
                batch_size=int(sender_mapping.get("BatchSize", 10)),
                report_batch_item_failures="ReportBatchItemFailures" in sender_mapping.get("FunctionResponseTypes", []),
                topics={
                    logical_id: r["Properties"]["TopicName"]
                    for logical_id, r in resources.items()
                    if r.get("Type") == "AWS::SNS::Topic" and isinstance(r["Properties"].get("TopicName"), str)
                },
                alarm_subscription=any(
                    r.get("Type") == "AWS::SNS::Subscription" and r["Properties"].get("Protocol") == "sqs"
                    and r["Properties"].get("Endpoint") == {"Fn::GetAtt": [DELIVERY_QUEUE.logical_id, "Arn"]}
                    for r in resources.values()
                ),
            )

        (mapping, *others) = mappings_from(QUEUE.logical_id, "Arn") or [None]
        if mapping is None or others:
            raise SpecError(f"expected one AWS::Lambda::EventSourceMapping from {QUEUE.logical_id}")

        return cls(
            tables={kind: table(resource.logical_id) for kind, resource in TABLES.items()},
            queue=queue(QUEUE.logical_id),
            dead_letter_queue=queue(DEAD_LETTER_QUEUE.logical_id),
            max_receive_count=int(redrive["maxReceiveCount"]),
            batch_size=int(mapping.get("BatchSize", 10)),
            max_batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
            max_concurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
            report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
            environment=literal_environment(PROCESSOR_HANDLER),
            status_events=status_events(),
            history_table=table(HISTORY_TABLE.logical_id) if HISTORY_TABLE.logical_id in resources else None,
            farm_health=farm_health(),
            deliveries=deliveries(),
            webhooks=_webhooks(resources),
        )

    @property
    def all_tables(self) -> list[TableSpec]:
        """Every table the stack creates: both notification tables, and the history's, the failing workers'
        state and the sender's state, if any."""
        optional = [
            self.history_table,
            self.farm_health.state_table if self.farm_health else None,
            self.deliveries.state_table if self.deliveries else None,
        ]
        return [*self.tables.values(), *(table for table in optional if table is not None)]

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


_DYNAMIC_SECRET = re.compile(r"\{\{resolve:secretsmanager:(.+?):SecretString:")


def _webhooks(resources: dict) -> tuple[WebhookSpec, ...]:
    """Each webhook's rule (named deliver-<name>) with the sender's destination or the API destination it targets."""
    (sender,) = [
        r["Properties"] for r in resources.values()
        if r.get("Type") == "AWS::Lambda::Function" and r["Properties"].get("Handler") == SENDER_HANDLER
    ] or [{}]  # fmt: skip
    encoded = sender.get("Environment", {}).get("Variables", {}).get(DESTINATIONS_VARIABLE, "[]")
    if isinstance(encoded, dict):  # an Fn::Join around the topics' ARNs, which no webhook's entry holds
        encoded = "".join(part if isinstance(part, str) else "" for part in encoded["Fn::Join"][1])
    destinations = {each["name"]: each for each in json.loads(encoded) if each["kind"] == WEBHOOK}
    found = []
    for rule in (r["Properties"] for r in resources.values() if r.get("Type") == "AWS::Events::Rule"):
        name = str(rule.get("Name", "")).removeprefix(rule_name(""))
        (target,) = rule.get("Targets", [{}])
        reference = target.get("Arn", {}).get("Fn::GetAtt", [""])[0]
        if resources.get(reference, {}).get("Type") == "AWS::Events::ApiDestination":
            destination = resources[reference]["Properties"]
            connection = resources[destination["ConnectionArn"]["Fn::GetAtt"][0]]["Properties"]
            key = connection["AuthParameters"]["ApiKeyAuthParameters"]
            secret = _DYNAMIC_SECRET.match(key["ApiKeyValue"])
            found.append(WebhookSpec(
                name, JSON_FORMAT, rule["EventPattern"], True, destination["InvocationEndpoint"], False,
                key["ApiKeyName"], secret[1] if secret else None, None if secret else key["ApiKeyValue"],
            ))  # fmt: skip
        elif name in destinations:
            each = destinations[name]
            found.append(WebhookSpec(
                name, each["format"], rule["EventPattern"], False, each["target"], each["url_is_secret"],
                each["auth_header"], each["auth_secret"], None,
            ))  # fmt: skip
    return tuple(sorted(found, key=lambda webhook: webhook.name))


def _target_service(arn, resources: dict) -> str:
    """The service of a rule target's ARN, which is a reference to one of the stack's resources."""
    reference = arn.get("Ref") or arn.get("Fn::GetAtt", [""])[0]
    kind = resources.get(reference, {}).get("Type", "")
    return kind.split("::")[1].lower() if kind.count("::") == 2 else ""
