"""The per-studio configuration: one typed, validated, immutable value.

Pure Python (no CDK import), so every rule here is testable in milliseconds.

Where values come from, lowest precedence first:
1. cdk.json, context key ``studio``: the repository's defaults (a JSON object);
2. the JSON file named by ``-c config=studios/<name>.json`` (relative to the project root);
3. ``-c key=value`` on the command line (strings, coerced to the field's type).

Every other top-level context key must be the CDK's own: feature flags and the CLI's
settings contain ``:`` (``@aws-cdk/...:...``, ``aws:cdk:...``); the few without one are
listed in CDK_CONTEXT_KEYS. Anything else is a typo and is rejected, like unknown keys
in the defaults or the file.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from notification_processor.notifications import DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS
from notification_processor.telemetry import DEFAULT_METRICS_NAMESPACE
from stacks.destinations import ChatChannel, Webhook, chat_channel_problems, webhook_problems
from stacks.roles import (
    ARCHIVE_FAILURE_QUEUE_LOGICAL_ID,
    DEAD_LETTER_QUEUE,
    FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID,
    PUBLISH_FAILURE_QUEUE,
    QUEUE,
    TABLES,
)
from status_events.changes import (
    DEFAULT_OPT_OUT_FIELD,
    NOTIFIED_JOB_STATUSES,
    OPT_OUT_FIELDS,
    PUBLISH_MODES,
    STATUS_CHANGES,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_KEY = "studio"
CONFIG_FILE_KEY = "config"
# Context keys of the CDK CLI's own that contain no ":" (`cdk acknowledge`, the telemetry opt-out).
CDK_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers", "cli-telemetry"})

# Values CloudWatch Logs accepts for a log group's retention, in days.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# Lambda runs the function at most this long after the queue hides a message; AWS
# recommends a visibility timeout of six times the function timeout plus the batching window.
VISIBILITY_TIMEOUT_FACTOR = 6
SQS_MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
SQS_BATCH_SIZE_WITHOUT_WINDOW = 10
MAX_BATCH_SIZE = 10_000  # the most a Lambda SQS event source mapping takes from a standard queue
# A clock tolerance of a year and more would let a wrong clock lock a key for as long.
MAX_TIMESTAMP_AHEAD_LIMIT_SECONDS = 366 * 86_400
# The processor reports writes still unanswered 1 s (plus 0.1 ms per unfinished write) before
# its timeout as failed; below this a cold start and one write with the client's timeouts
# (1 s connect, 3 s read) may not fit.
MIN_FUNCTION_TIMEOUT_SECONDS = 10
WORKER_FAILURE_TABLE_NAME = "DeadlineWorkerFailures"
# The sender's state table (each change once): its name after table_name_prefix.
DELIVERY_STATE_TABLE_NAME = "DeadlineNotificationDeliveries"

_STUDIO_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,39}")
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TABLE_PREFIX = re.compile(r"[A-Za-z0-9_.-]{0,64}")
_ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NAMESPACE = re.compile(r"(?!AWS/)[A-Za-z0-9.\-_/#:]{1,255}")
_EVENT_BUS_NAME = re.compile(r"(?!default$)[A-Za-z0-9._-]{1,256}")


class ConfigError(ValueError):
    """The configuration is invalid; the message names every offending key and value."""


def _setting(
    default: Any,
    allowed: str,
    check: Callable[[Any], bool] = lambda _: True,
    *,
    requires: tuple[str, ...] = (),
    implied_by: tuple[str, ...] = (),
    problems: Callable[[Any], list[str]] | None = None,
):
    """A config field: its default, what values it allows (in words) and the check for them.

    A switch (``bool | None``, default None: "follow the others") either ``requires`` other
    switches (None becomes true when all of them are on; an explicit true with one of them off is
    an error naming both) or is ``implied_by`` them (None becomes true when any is on; an
    explicit false with one of them on is an error naming both). A list of objects has
    ``problems``: every problem of its items, each naming the item and its key.
    """
    metadata = {"allowed": allowed, "check": check, "requires": requires, "implied_by": implied_by, "problems": problems}
    return field(default=default, metadata=metadata)


def _switch(allowed: str, *, requires: tuple[str, ...] = (), implied_by: tuple[str, ...] = ()):
    """An on/off key whose default follows other keys (see _setting)."""
    return _setting(
        None, f"true or false, or empty for the default ({allowed})", requires=requires, implied_by=implied_by
    )


def _objects(what: str, problems: Callable[[Any], list[str]]):
    """A list of JSON objects (a tuple of dicts, immutable like the rest), empty by default."""
    return _setting((), f"a JSON list of {what}", problems=problems)


def _between(low: int, high: int) -> tuple[str, Callable[[int], bool]]:
    return f"a whole number from {low} to {high}", lambda value: low <= value <= high


def _matches(pattern: re.Pattern) -> Callable[[str], bool]:
    return lambda value: pattern.fullmatch(value) is not None


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _listed(text: str) -> list[str]:
    """A comma-separated setting's values ("" is none)."""
    return [value.strip() for value in text.split(",")] if text.strip() else []


@dataclass(frozen=True)
class StudioConfig:
    """One studio's deployment of the pipeline. See docs/configuration.md."""

    studio_name: str = _setting(
        "default",
        "1-40 letters, digits and hyphens, starting with a letter",
        _matches(_STUDIO_NAME),
    )
    sandbox: bool = _setting(False, "true or false")
    table_name_prefix: str = _setting(
        "", "up to 64 letters, digits, '_', '.' and '-'", _matches(_TABLE_PREFIX)
    )
    job_table_name: str = _setting(
        "DeadlineJobNotifications", "3-255 letters, digits, '_', '.' and '-'", _matches(_TABLE_NAME)
    )
    task_table_name: str = _setting(
        "DeadlineTaskNotifications", "3-255 letters, digits, '_', '.' and '-'", _matches(_TABLE_NAME)
    )
    customer_managed_key: bool = _setting(False, "true or false")
    tracing: bool = _setting(False, "true or false")
    max_receive_count: int = _setting(5, *_between(1, 1000))
    queue_retention_days: int = _setting(4, *_between(1, 14))
    dlq_retention_days: int = _setting(14, *_between(1, 14))
    function_timeout_seconds: int = _setting(30, *_between(MIN_FUNCTION_TIMEOUT_SECONDS, 900))
    function_memory_mb: int = _setting(256, *_between(128, 10240))
    batch_size: int = _setting(100, *_between(1, MAX_BATCH_SIZE))
    max_batching_window_seconds: int = _setting(5, *_between(0, 300))
    max_concurrency: int = _setting(5, *_between(2, 1000))
    max_timestamp_ahead_seconds: int = _setting(
        DEFAULT_MAX_TIMESTAMP_AHEAD_SECONDS, *_between(60, MAX_TIMESTAMP_AHEAD_LIMIT_SECONDS)
    )
    log_retention_days: int = _setting(
        30,
        "one of CloudWatch Logs' retention periods: " + ", ".join(map(str, LOG_RETENTION_DAYS)),
        lambda v: v in LOG_RETENTION_DAYS,
    )
    oldest_message_age_alarm_seconds: int = _setting(600, *_between(60, 1_209_600))
    alarm_email: str | None = _setting(
        None, "an e-mail address, or empty for no alarm e-mails", _optional(_matches(_EMAIL))
    )
    producer_role_name: str | None = _setting(
        None,
        "an IAM role name (1-64 of letters, digits and +=,.@_-), or empty",
        _optional(_matches(_ROLE_NAME)),
    )
    metrics_namespace: str = _setting(
        DEFAULT_METRICS_NAMESPACE,
        "1-255 of letters, digits and .-_/#:, not starting with 'AWS/'",
        _matches(_NAMESPACE),
    )
    status_events: bool = _setting(True, "true or false")
    event_bus_name: str | None = _setting(
        None,
        "1-256 of letters, digits and ._-, not 'default', or empty for DeadlineNotifications-<studio_name>",
        _optional(_matches(_EVENT_BUS_NAME)),
    )
    publish: str = _setting(STATUS_CHANGES, " or ".join(PUBLISH_MODES), lambda value: value in PUBLISH_MODES)
    notify_opt_out_field: str = _setting(
        DEFAULT_OPT_OUT_FIELD,
        f"one of JobDetails' {', '.join(OPT_OUT_FIELDS)}",
        lambda value: value in OPT_OUT_FIELDS,
    )
    alert_statuses: str = _setting(
        "Failed",
        f"a comma-separated list of job statuses from {', '.join(NOTIFIED_JOB_STATUSES)}, or empty for no alerts",
        lambda value: set(_listed(value)) <= set(NOTIFIED_JOB_STATUSES),
    )
    history: bool | None = _switch(
        "on with failing_workers or reports, else off", implied_by=("failing_workers", "reports")
    )
    history_table_name: str = _setting(
        "DeadlineNotificationHistory", "3-255 letters, digits, '_', '.' and '-'", _matches(_TABLE_NAME)
    )
    history_days: int = _setting(90, *_between(1, 3650))
    # Per-artist notifications, chat channels and webhooks (docs/notifications.md): from the bus.
    job_notifications: bool | None = _switch("on with status_events", requires=("status_events",))
    job_notification_statuses: str = _setting(
        "Completed,Failed",
        f"a comma-separated list of job statuses from {', '.join(NOTIFIED_JOB_STATUSES)}",
        lambda value: bool(_listed(value)) and set(_listed(value)) <= set(NOTIFIED_JOB_STATUSES),
    )
    chat_channels: tuple = _objects("chat channel objects (docs/notifications.md)", chat_channel_problems)
    webhooks: tuple = _objects("webhook objects (docs/notifications.md)", webhook_problems)
    # Farm health (docs/farm-health.md): failing workers from the history's stream, reports from its archive.
    failing_workers: bool | None = _switch("on with status_events", requires=("status_events",))
    failing_worker_jobs: int = _setting(3, *_between(2, 100))
    failing_worker_minutes: int = _setting(30, *_between(1, 1440))
    alert_failing_workers: bool | None = _switch("on with failing_workers", requires=("failing_workers",))
    reports: bool = _setting(False, "true or false")
    reports_retention_days: int = _setting(400, *_between(1, 3650))

    @property
    def stack_name(self) -> str:
        return f"DeadlineNotifications-{self.studio_name}"

    @property
    def queue_names(self) -> dict[str, str]:
        """The stack's named queues, from the stack's name: the queue, its dead-letter queue, with
        status_events the publisher's failure queue and with reports the archiver's (by stacks.roles' logical id)."""
        names = {
            QUEUE.logical_id: f"{self.stack_name}-notifications",
            DEAD_LETTER_QUEUE.logical_id: f"{self.stack_name}-dead-letters",
        }
        if self.status_events:
            names[PUBLISH_FAILURE_QUEUE.logical_id] = f"{self.stack_name}-status-event-failures"
        if self.failing_workers:
            names[FARM_HEALTH_FAILURE_QUEUE_LOGICAL_ID] = f"{self.stack_name}-farm-health-failures"
        if self.reports:
            names[ARCHIVE_FAILURE_QUEUE_LOGICAL_ID] = f"{self.stack_name}-archive-failures"
        return names

    @property
    def table_names(self) -> dict[str, str]:
        """Each table's full name (with table_name_prefix), by role (stacks.roles.TABLES)."""
        return {kind: self.table_name_prefix + getattr(self, table.config_key) for kind, table in TABLES.items()}

    @property
    def event_bus(self) -> str:
        """The status-change events' bus: its configured name, else the stack's."""
        return self.event_bus_name or self.stack_name

    @property
    def alert_status_list(self) -> list[str]:
        return _listed(self.alert_statuses)

    @property
    def history_stream(self) -> bool:
        """Whether the history streams its new entries (NEW_IMAGE): for failing workers and the archive."""
        return bool(self.history and (self.failing_workers or self.reports))

    @property
    def job_notification_status_list(self) -> list[str]:
        return _listed(self.job_notification_statuses)

    @property
    def delivery_state_table(self) -> str:
        """The sender's state table's full name (with table_name_prefix)."""
        return self.table_name_prefix + DELIVERY_STATE_TABLE_NAME

    @property
    def chat_channel_list(self) -> list[ChatChannel]:
        return [ChatChannel.parse(item) for item in self.chat_channels]

    @property
    def webhook_list(self) -> list[Webhook]:
        return [Webhook.parse(item) for item in self.webhooks]

    @property
    def history_table(self) -> str:
        """The history table's full name (with table_name_prefix), used when `history` is on."""
        return self.table_name_prefix + self.history_table_name

    @property
    def worker_failure_table(self) -> str:
        """The failing workers' state table's full name (with table_name_prefix), used with failing_workers."""
        return self.table_name_prefix + WORKER_FAILURE_TABLE_NAME

    @property
    def reports_database(self) -> str:
        """The archive's Glue database (Glue names: lower case, underscores), used when `reports` is on."""
        return "deadline_notifications_" + self.studio_name.lower().replace("-", "_")

    @property
    def reports_workgroup(self) -> str:
        """The Athena workgroup of the reports, used when `reports` is on."""
        return f"{self.stack_name}-reports"

    @property
    def queue_visibility_timeout_seconds(self) -> int:
        """Derived, never configured, so the queue and the function cannot disagree."""
        return VISIBILITY_TIMEOUT_FACTOR * self.function_timeout_seconds + self.max_batching_window_seconds

    @property
    def tags(self) -> dict[str, str]:
        return {"Application": "DeadlineNotifications", "Studio": self.studio_name}

    def __post_init__(self) -> None:
        hints = get_type_hints(type(self))
        problems = [
            _describe(f.name, getattr(self, f.name), f.metadata["allowed"])
            for f in fields(self)
            if not (_has_type(getattr(self, f.name), hints[f.name]) and f.metadata["check"](getattr(self, f.name)))
        ]
        for f in fields(self):
            if f.metadata["problems"] is not None and _has_type(getattr(self, f.name), hints[f.name]):
                problems += f.metadata["problems"](getattr(self, f.name))
        _raise_if_any(problems)
        # Cross-field rules assume every field is valid on its own, and every switch resolved.
        _raise_if_any(self._resolve_switches() or self._cross_field_problems())

    def _resolve_switches(self) -> list[str]:
        """Set each switch left at None from the keys it follows (see _setting); the conflicts of explicit ones.

        Those that require others first, in declaration order (a required key is declared before), then
        those implied by others."""
        problems = []
        for f in fields(self):
            required = f.metadata["requires"]
            if not required:
                continue
            off = [name for name in required if not getattr(self, name)]
            value = getattr(self, f.name)
            if value is None:
                object.__setattr__(self, f.name, not off)
            elif value and off:
                problems.append(
                    f"{f.name}=True is not allowed with {off[0]}=False: {f.name} needs {off[0]}; "
                    f"turn {off[0]} on, or leave {f.name} out (its default follows {off[0]})"
                )
        for f in fields(self):
            if not f.metadata["implied_by"]:
                continue
            implied = [name for name in f.metadata["implied_by"] if getattr(self, name)]
            value = getattr(self, f.name)
            if value is None:
                object.__setattr__(self, f.name, bool(implied))
            elif value is False and implied:
                problems.append(
                    f"{f.name}=False is not allowed with {implied[0]}=True: {implied[0]} needs {f.name}; "
                    f"turn {implied[0]} off, or leave {f.name} out (its default follows {implied[0]})"
                )
        return problems

    def _cross_field_problems(self) -> list[str]:
        problems = []
        if self.batch_size > SQS_BATCH_SIZE_WITHOUT_WINDOW and self.max_batching_window_seconds < 1:
            problems.append(
                _describe(
                    "max_batching_window_seconds",
                    self.max_batching_window_seconds,
                    f"at least 1 when batch_size ({self.batch_size}) is above "
                    f"{SQS_BATCH_SIZE_WITHOUT_WINDOW} (an SQS event source rule)",
                )
            )
        if self.dlq_retention_days < self.queue_retention_days:
            problems.append(
                _describe(
                    "dlq_retention_days",
                    self.dlq_retention_days,
                    f"at least queue_retention_days ({self.queue_retention_days}): a message keeps "
                    "its original enqueue time in the dead-letter queue",
                )
            )
        if self.oldest_message_age_alarm_seconds >= self.queue_retention_days * 86_400:
            problems.append(
                _describe(
                    "oldest_message_age_alarm_seconds",
                    self.oldest_message_age_alarm_seconds,
                    f"less than queue_retention_days ({self.queue_retention_days}) in seconds, "
                    "or messages expire before the alarm fires",
                )
            )
        if not self.status_events:
            problems += [
                f"{key}=[...] is not allowed with status_events=False: {key} are fed from the status-change "
                f"events; turn status_events on, or leave {key} out"
                for key in ("chat_channels", "webhooks")
                if getattr(self, key)
            ]
        chat_names = {channel.name for channel in self.chat_channel_list}
        problems += [
            f"webhooks ({item['name']}): the name {item['name']!r} is a chat channel's too; give each destination its own"
            for item in self.webhooks
            if isinstance(item, dict) and item.get("name") in chat_names
        ]
        seen: dict[str, str] = {}  # full name -> the key that gave it
        named = [(TABLES[kind].config_key, name) for kind, name in self.table_names.items()]
        if self.history:
            named.append(("history_table_name", self.history_table))
        for key, name in named:
            if len(name) > 255:
                problems.append(
                    _describe(key, name, "with table_name_prefix, a table name of at most 255 characters")
                )
            if name in seen:
                problems.append(_describe(key, getattr(self, key), f"a name different from {seen[name]}"))
            seen.setdefault(name, key)
        return problems


FIELD_NAMES = tuple(f.name for f in fields(StudioConfig))


def _describe(key: str, value: Any, allowed: str) -> str:
    return f"{key}={value!r} is not allowed; allowed: {allowed}"


def _raise_if_any(problems: list[str]) -> None:
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _has_type(value: Any, kind: Any) -> bool:
    if kind in (str | None, bool | None):
        return value is None or isinstance(value, kind.__args__[0])
    # bool is a subclass of int, and True is no batch size.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Turn a context value (a string when it came from `-c`) into the field's type."""
    optional = kind in (str | None, bool | None)
    if optional and value in (None, ""):
        return None
    if kind is tuple:
        return _coerce_objects(key, value)
    if kind in (bool, bool | None):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(_describe(key, value, "true or false"))
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        raise ConfigError(_describe(key, value, "a whole number"))
    if isinstance(value, str):
        return value
    raise ConfigError(_describe(key, value, "a string"))


def _coerce_objects(key: str, value: Any) -> tuple:
    """A list of objects: a JSON list (in a file), or its text (from `-c`)."""
    loaded = value
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(_describe(key, value, f"a JSON list ({error})")) from None
    if not isinstance(loaded, list | tuple):
        raise ConfigError(_describe(key, value, "a JSON list of objects"))
    return tuple(loaded)


def _read_config_file(value: Any, base_dir: Path) -> dict:
    if not isinstance(value, str) or not value:
        raise ConfigError(_describe(CONFIG_FILE_KEY, value, "the path of a JSON file, e.g. studios/<name>.json"))
    path = base_dir / value
    try:
        loaded = json.loads(path.read_text())
    except OSError as error:
        raise ConfigError(_describe(CONFIG_FILE_KEY, value, f"a readable JSON file ({error.strerror})")) from None
    except json.JSONDecodeError as error:
        raise ConfigError(_describe(CONFIG_FILE_KEY, value, f"a valid JSON file ({error})")) from None
    if not isinstance(loaded, dict):
        raise ConfigError(_describe(CONFIG_FILE_KEY, value, "a JSON file holding one object"))
    return loaded


def _unknown_key(key: str) -> str:
    """An unknown key's problem: the nearest known key first (a typo is the usual cause), then all of them."""
    nearest = difflib.get_close_matches(str(key), FIELD_NAMES, n=1, cutoff=0.6)
    guess = f"did you mean {nearest[0]}? " if nearest else ""
    return f"unknown key {key!r}; {guess}known keys: {', '.join(FIELD_NAMES)}"


def _is_cdk_key(key: str) -> bool:
    return ":" in key or key in CDK_CONTEXT_KEYS


def project_context() -> dict[str, Any]:
    """cdk.json's context: the CDK feature flags and, under "studio", our defaults."""
    return json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]


def load_config(context: Mapping[str, Any], base_dir: Path | str = PROJECT_ROOT) -> StudioConfig:
    """Build the configuration from CDK context (cdk.json's context plus any `-c` values).

    A relative config file path is resolved against ``base_dir``: the project root, where
    the CDK CLI runs app.py.
    """
    defaults = context.get(DEFAULTS_KEY, {})
    if not isinstance(defaults, Mapping):
        _raise_if_any([_describe(DEFAULTS_KEY, defaults, "a JSON object of defaults (in cdk.json)")])
    layers = [(f"cdk.json context {DEFAULTS_KEY!r}", defaults)]
    config_file = context.get(CONFIG_FILE_KEY)
    if config_file is not None:
        try:
            layers.append((f"config file {config_file}", _read_config_file(config_file, Path(base_dir))))
        except ConfigError as error:
            _raise_if_any([str(error)])
    command_line = {
        key: value
        for key, value in context.items()
        if key not in (DEFAULTS_KEY, CONFIG_FILE_KEY) and not _is_cdk_key(key)
    }
    layers.append(("context (-c)", command_line))

    hints = get_type_hints(StudioConfig)
    merged: dict[str, Any] = {}
    problems = []
    for source, values in layers:
        for key, value in values.items():
            if key not in hints:
                problems.append(f"{source}: {_unknown_key(key)}")
                continue
            try:
                merged[key] = _coerce(key, value, hints[key])
            except ConfigError as error:
                problems.append(f"{source}: {error}")
    _raise_if_any(problems)
    return StudioConfig(**merged)
