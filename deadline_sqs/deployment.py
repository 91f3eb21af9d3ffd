"""Where a pipeline is: its queue URLs and table names, from its stack's outputs or given explicitly.

Clients come from boto3's own configuration, so AWS_ENDPOINT_URL_SQS and
AWS_ENDPOINT_URL_DYNAMODB point them at local engines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from deadline_sqs import CommandError
from deadline_sqs.aws_errors import about
from stacks.roles import DEAD_LETTER_QUEUE, HISTORY_TABLE, QUEUE, TABLES

QUEUE_FLAGS = {"queue_url": "--queue-url", "dead_letter_queue_url": "--dlq-url"}
HISTORY_TABLE_FLAG = "--history-table"


def table_flag(kind: str) -> str:
    return f"--{kind}-table"


@dataclass(frozen=True)
class Deployment:
    """Where the pipeline is. Commands need some of these: `require` says which are missing."""

    queue_url: str = ""  # empty: not known
    dead_letter_queue_url: str = ""
    tables: Mapping[str, str] = field(default_factory=dict)  # by role (stacks.roles.TABLES)
    history_table: str = ""  # empty: not known (or deployed without a history)
    # Where the values came from ("stack X", "the local pipeline"); empty: only explicit values.
    found_in: str = ""
    # With found_in: how to turn a history on for that deployment.
    history_fix: str = ""

    def require(self, *queues: str, tables: bool = False, history: bool = False) -> Deployment:
        """This deployment, if it has the named queue URLs (and, with `tables`, every table; with
        `history`, the history table)."""
        if history and not self.history_table and self.found_in:
            raise CommandError(
                f"{self.found_in} keeps no history (it has no {HISTORY_TABLE.output_key}): {self.history_fix}"
            )
        missing = [QUEUE_FLAGS[name] for name in queues if not getattr(self, name)]
        if tables:
            missing += [table_flag(kind) for kind in TABLES if not self.tables.get(kind)]
        if history and not self.history_table:
            missing.append(f"{HISTORY_TABLE_FLAG} (a stack deployed with history on has it)")
        if missing:
            raise CommandError(f"where is the pipeline? pass --stack-name, --local, or {', '.join(missing)}")
        return self


def stack_outputs(cloudformation, stack_name: str) -> dict[str, str]:
    """The stack's outputs: key -> value."""
    with about(f"stack {stack_name}"):
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def deployment_from_stack(cloudformation, stack_name: str) -> Deployment:
    """The pipeline's queue URLs and table names from its stack's outputs."""
    return deployment_from_outputs(stack_outputs(cloudformation, stack_name), stack_name)


def deployment_from_outputs(outputs: Mapping[str, str], stack_name: str) -> Deployment:
    """The pipeline's queue URLs and table names from the outputs of the stack `stack_name`."""
    return Deployment(
        queue_url=outputs.get(QUEUE.output_key, ""),
        dead_letter_queue_url=outputs.get(DEAD_LETTER_QUEUE.output_key, ""),
        tables={kind: outputs[table.output_key] for kind, table in TABLES.items() if table.output_key in outputs},
        history_table=outputs.get(HISTORY_TABLE.output_key, ""),
        found_in=f"stack {stack_name}",
        history_fix='set "history": true in the studio\'s config file and deploy it again (make deploy STUDIO=...)',
    )


def resolve_deployment(
    cloudformation_client: Callable,
    stack_name: str | None,
    *,
    found: Deployment | None = None,
    tables: Mapping[str, str | None],
    history_table: str | None = None,
    **queues: str | None,
) -> Deployment:
    """Stack outputs (when a stack is named) or `found`, overridden by whatever was given explicitly."""
    if stack_name:
        found = deployment_from_stack(cloudformation_client(), stack_name)
    found = found or Deployment()
    given_tables = {kind: name for kind, name in tables.items() if name}
    return replace(
        found,
        tables={**found.tables, **given_tables},
        history_table=history_table or found.history_table,
        **{name: value for name, value in queues.items() if value},
    )
