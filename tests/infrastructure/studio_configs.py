"""Every studio config in studios/, plus one with status-change events off, synthesized side by
side in one app (as `cdk synth -c config=...` would each); conftest.py's `studio_synthesis` does it
once per session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from stacks.config import PROJECT_ROOT, StudioConfig, load_config, project_context
from stacks.pipeline_stack import DeadlineNotificationsStack
from stacks.synth import add_compliance_checks, in_process_app

STUDIO_FILES = sorted((PROJECT_ROOT / "studios").glob("*.json"))
# The one path no studio file takes: the starter with status-change events (and so alerts) off.
WITHOUT_STATUS_EVENTS = "starter-without-status-events"


@dataclass(frozen=True)
class Studio:
    config: StudioConfig
    template: dict


@dataclass(frozen=True)
class StudioSynthesis:
    studios: dict[str, Studio]  # by config file stem (and WITHOUT_STATUS_EVENTS)
    validation_report: dict  # cdk-nag's
    outdir: Path


def studio_contexts() -> dict[str, dict]:
    contexts = {path.stem: {"config": f"studios/{path.name}"} for path in STUDIO_FILES}
    contexts[WITHOUT_STATUS_EVENTS] = {
        "config": "studios/starter.json", "studio_name": "starter-no-events", "status_events": False
    }
    return contexts


def synthesize_studios(outdir: Path) -> StudioSynthesis:
    app = in_process_app(None, str(outdir))
    add_compliance_checks(app)
    configs = {name: load_config({**project_context(), **context}) for name, context in studio_contexts().items()}
    built = {name: DeadlineNotificationsStack(app, config.stack_name, config=config) for name, config in configs.items()}
    assembly = app.synth()  # raises if cdk-nag finds anything unacknowledged
    studios = {
        name: Studio(configs[name], assembly.get_stack_artifact(stack.artifact_id).template) for name, stack in built.items()
    }
    return StudioSynthesis(studios, json.loads((outdir / "validation-report.json").read_text()), outdir)
