"""The per-studio configuration: precedence, coercion of `-c` strings, and every rejection.

Pure Python: no synthesis, so these run in milliseconds.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notification_processor.roles import JOB, TASK
from stacks.config import (
    FIELD_NAMES,
    LOG_RETENTION_DAYS,
    PROJECT_ROOT,
    SQS_MAX_VISIBILITY_TIMEOUT_SECONDS,
    ConfigError,
    StudioConfig,
    load_config,
    project_context,
)

CDK_DEFAULTS = project_context()["studio"]


def load(tmp_path=None, **context) -> StudioConfig:
    return load_config({"studio": CDK_DEFAULTS, **context}, base_dir=tmp_path or PROJECT_ROOT)


def write_config(tmp_path, values) -> str:
    (tmp_path / "studio.json").write_text(json.dumps(values))
    return "studio.json"


def test_cdk_json_holds_every_key_with_the_documented_default():
    # JSON has no tuple: a list of objects defaults to () here, [] there.
    assert {f.name: list(f.default) if f.default == () else f.default for f in fields(StudioConfig)} == CDK_DEFAULTS


def test_configuration_reference_documents_every_key():
    reference = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    section = reference.split("<!-- section: configuration -->")[1].split("<!-- /section: configuration -->")[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE))
    assert documented == set(FIELD_NAMES)


def test_defaults_give_the_documented_table_names_and_a_derived_stack_name():
    config = load()
    assert config.table_names == {JOB: "DeadlineJobNotifications", TASK: "DeadlineTaskNotifications"}
    assert config.stack_name == "DeadlineNotifications-default"
    assert config.tags == {"Application": "DeadlineNotifications", "Studio": "default"}


def test_file_overrides_cdk_json_and_command_line_overrides_the_file(tmp_path):
    path = write_config(tmp_path, {"studio_name": "file", "batch_size": 50, "max_concurrency": 20})
    config = load(tmp_path, config=path, max_concurrency="30")
    assert (config.studio_name, config.batch_size, config.max_concurrency) == ("file", 50, 30)
    assert config.max_receive_count == CDK_DEFAULTS["max_receive_count"]


def test_command_line_strings_are_coerced_to_each_fields_type():
    config = load(sandbox="TRUE", customer_managed_key="false", batch_size="+20", alarm_email="ops@example.com")
    assert config.sandbox is True and config.customer_managed_key is False
    assert config.batch_size == 20
    assert config.alarm_email == "ops@example.com"


def test_an_empty_string_clears_an_optional_setting(tmp_path):
    path = write_config(tmp_path, {"producer_role_name": "RcsRole"})
    assert load(tmp_path, config=path, producer_role_name="").producer_role_name is None


def test_prefix_applies_to_both_table_names():
    config = load(table_name_prefix="Acme-", task_table_name="Tasks")
    assert config.table_names == {JOB: "Acme-DeadlineJobNotifications", TASK: "Acme-Tasks"}


def test_cdk_feature_flags_and_cli_settings_are_not_ours_to_reject():
    cdk_keys = {
        "@aws-cdk/core:explicitStackTags": True,
        "aws:cdk:version-reporting": True,
        "aws:cdk:bundling-stacks": ["**"],
        "acknowledged-issue-numbers": [1234],
        "cli-telemetry": False,
    }
    assert load(**cdk_keys) == load()


STUDIO_FILES = sorted(path.name for path in (PROJECT_ROOT / "studios").glob("*.json"))


@pytest.mark.parametrize("name", STUDIO_FILES)
def test_every_studio_file_is_valid(name):
    assert load(config=f"studios/{name}").studio_name


def test_the_starter_sets_only_a_name_and_an_optional_e_mail():
    starter = json.loads((PROJECT_ROOT / "studios" / "starter.json").read_text())
    assert set(starter) == {"studio_name", "alarm_email"}
    assert load(config="studios/starter.json").alarm_email is None  # "" is none


def test_the_studios_readme_says_what_each_example_assumes():
    readme = (PROJECT_ROOT / "studios" / "README.md").read_text()
    assert {f"| `{name}` |" for name in STUDIO_FILES} <= {line[: line.index(" |", 2) + 2] for line in readme.splitlines() if line.startswith("| `")}


# One value each key rejects, with the words its message must contain.
BAD_VALUES = {
    "studio_name": ("9lives", "starting with a letter"),
    "sandbox": ("maybe", "true or false"),
    "table_name_prefix": ("acme corp", "letters, digits"),
    "job_table_name": ("ab", "3-255"),
    "task_table_name": ("a/b", "3-255"),
    "customer_managed_key": ("1", "true or false"),
    "tracing": ("yes", "true or false"),
    "max_receive_count": ("0", "from 1 to 1000"),
    "queue_retention_days": ("15", "from 1 to 14"),
    "dlq_retention_days": ("0", "from 1 to 14"),
    "function_timeout_seconds": ("9", "from 10 to 900"),
    "function_memory_mb": ("64", "from 128 to 10240"),
    "batch_size": ("10001", "from 1 to 10000"),
    "max_batching_window_seconds": ("301", "from 0 to 300"),
    "max_concurrency": ("1", "from 2 to 1000"),
    "max_timestamp_ahead_seconds": ("59", "from 60 to 31622400"),
    "log_retention_days": ("2", "retention periods: 1, 3, 5"),
    "oldest_message_age_alarm_seconds": ("59", "from 60 to 1209600"),
    "alarm_email": ("ops-at-example.com", "an e-mail address"),
    "producer_role_name": ("role/with/path", "an IAM role name"),
    "metrics_namespace": ("AWS/Lambda", "not starting with 'AWS/'"),
    "status_events": ("on", "true or false"),
    "event_bus_name": ("default", "not 'default'"),
    "publish": ("everything", "status_changes or all_changes"),
    "notify_opt_out_field": ("ExtraInfo", "one of JobDetails' ExtraInfo0, ExtraInfo1"),
    "alert_statuses": ("Failed,Exploded", "from Failed, Completed, Suspended, Deleted"),
    "history": ("yes", "true or false"),
    "history_table_name": ("h", "3-255"),
    "history_days": ("0", "from 1 to 3650"),
    "job_notifications": ("yes", "true or false"),
    "job_notification_statuses": ("Rendered", "from Failed, Completed, Suspended, Deleted"),
    "chat_channels": ('"lighting"', "a JSON list of objects"),
    "webhooks": ("{}", "a JSON list of objects"),
    "failing_workers": ("yes", "true or false"),
    "failing_worker_jobs": ("1", "from 2 to 100"),
    "failing_worker_minutes": ("0", "from 1 to 1440"),
    "alert_failing_workers": ("yes", "true or false"),
    "reports": ("yes", "true or false"),
    "reports_retention_days": ("0", "from 1 to 3650"),
}


def test_every_key_has_a_rejected_value():
    assert set(BAD_VALUES) == set(FIELD_NAMES)


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_a_bad_value_is_rejected_naming_key_value_and_what_is_allowed(key):
    value, allowed = BAD_VALUES[key]
    with pytest.raises(ConfigError) as raised:
        load(**{key: value})
    problem = next(line for line in str(raised.value).splitlines() if f"{key}=" in line)
    assert value in problem and allowed in problem


@pytest.mark.parametrize(
    "key, value, allowed",
    [
        ("batch_size", "1.5", "a whole number"),
        ("batch_size", 2.0, "a whole number"),
        ("sandbox", 1, "true or false"),
        ("studio_name", 7, "a string"),
    ],
)
def test_a_value_of_the_wrong_type_is_rejected(key, value, allowed):
    with pytest.raises(ConfigError, match=rf"{key}={re.escape(repr(value))} is not allowed; allowed: {allowed}"):
        load(**{key: value})


def test_a_typed_constructor_argument_of_the_wrong_type_is_rejected():
    with pytest.raises(ConfigError, match=r"batch_size=True is not allowed"):
        StudioConfig(batch_size=True)


def test_unknown_keys_are_rejected_in_every_layer_at_once(tmp_path):
    path = write_config(tmp_path, {"batchsize": 10})
    with pytest.raises(ConfigError) as raised:
        load_config({"studio": {**CDK_DEFAULTS, "studio-name": "x"}, "config": path, "max_concurency": "5"}, tmp_path)
    message = str(raised.value)
    assert "cdk.json context 'studio': unknown key 'studio-name'" in message
    assert "config file studio.json: unknown key 'batchsize'; did you mean batch_size?" in message
    assert "context (-c): unknown key 'max_concurency'; did you mean max_concurrency? known keys:" in message
    assert "known keys: studio_name, sandbox" in message


def test_a_key_like_no_known_one_gets_no_guess():
    with pytest.raises(ConfigError, match=r"unknown key 'colour'; known keys: studio_name"):
        load(colour="blue")


def test_every_bad_value_is_reported_together():
    with pytest.raises(ConfigError) as raised:
        load(batch_size="0", max_concurrency="0")
    assert "batch_size=0" in str(raised.value) and "max_concurrency=0" in str(raised.value)


@pytest.mark.parametrize(
    "context, message",
    [
        (
            {"batch_size": "11", "max_batching_window_seconds": "0"},
            "max_batching_window_seconds=0 is not allowed; allowed: at least 1 when batch_size (11) is above 10",
        ),
        (
            {"queue_retention_days": "7", "dlq_retention_days": "6"},
            "dlq_retention_days=6 is not allowed; allowed: at least queue_retention_days (7)",
        ),
        (
            {"queue_retention_days": "1", "oldest_message_age_alarm_seconds": "86400"},
            "oldest_message_age_alarm_seconds=86400 is not allowed; allowed: less than queue_retention_days (1)",
        ),
        (
            {"table_name_prefix": "p" * 64, "job_table_name": "j" * 200},
            "job_table_name='" + "p" * 64 + "j" * 200 + "' is not allowed",
        ),
        (
            {"job_table_name": "Same", "task_table_name": "Same"},
            "task_table_name='Same' is not allowed; allowed: a name different from job_table_name",
        ),
        (
            {"history": "true", "history_table_name": "DeadlineJobNotifications"},
            "history_table_name='DeadlineJobNotifications' is not allowed; allowed: a name different from job_table_name",
        ),
    ],
)
def test_settings_that_contradict_each_other_are_rejected(context, message):
    with pytest.raises(ConfigError) as raised:
        load(**context)
    assert message in str(raised.value)


def test_function_timeout_is_ten_seconds_to_fifteen_minutes():
    # Below 10 s the processor could not report unfinished writes before the timeout (BAD_VALUES).
    assert [load(function_timeout_seconds=s).function_timeout_seconds for s in ("10", "900")] == [10, 900]
    with pytest.raises(ConfigError, match=r"function_timeout_seconds=901 is not allowed; allowed: .* from 10 to 900"):
        load(function_timeout_seconds="901")


def test_the_history_table_may_share_a_name_while_there_is_no_history():
    config = load(history_table_name="DeadlineJobNotifications", failing_workers="false")
    assert config.history is False


def test_status_events_default_to_a_bus_named_after_the_stack_and_alerts_on_failed_jobs():
    config = load()
    assert (config.status_events, config.event_bus, config.publish) == (True, "DeadlineNotifications-default", "status_changes")
    assert config.alert_status_list == ["Failed"]
    assert load(event_bus_name="render-events").event_bus == "render-events"


def test_the_opt_out_field_defaults_to_extra_info_9_and_may_be_any_extra_info():
    assert (load().notify_opt_out_field, load(notify_opt_out_field="ExtraInfo0").notify_opt_out_field) == (
        "ExtraInfo9",
        "ExtraInfo0",
    )


@pytest.mark.parametrize("value, statuses", [("Failed, Completed", ["Failed", "Completed"]), ("", [])])
def test_alert_statuses_are_a_comma_separated_list_or_none(value, statuses):
    assert load(alert_statuses=value).alert_status_list == statuses


def test_the_history_table_takes_the_prefix():
    assert load(history="true", table_name_prefix="Acme-").history_table == "Acme-DeadlineNotificationHistory"


def test_ten_messages_need_no_batching_window():
    assert load(batch_size="10", max_batching_window_seconds="0").batch_size == 10


@pytest.mark.parametrize(
    "value, allowed",
    [
        ("missing.json", "a readable JSON file"),
        ("broken.json", "a valid JSON file"),
        ("list.json", "a JSON file holding one object"),
        ("", "the path of a JSON file"),
    ],
)
def test_a_bad_config_file_is_rejected(tmp_path, value, allowed):
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ConfigError, match=rf"config='{value}' is not allowed; allowed: {allowed}"):
        load(tmp_path, config=value)


def test_defaults_that_are_not_an_object_are_rejected():
    with pytest.raises(ConfigError, match=r"studio='acme' is not allowed; allowed: a JSON object"):
        load_config({"studio": "acme"})


def test_log_retention_accepts_every_cloudwatch_period():
    assert [load(log_retention_days=str(days)).log_retention_days for days in LOG_RETENTION_DAYS] == list(
        LOG_RETENTION_DAYS
    )


@settings(max_examples=100, deadline=None)
@given(timeout=st.integers(10, 900), window=st.integers(0, 300))
def test_visibility_timeout_is_six_function_timeouts_plus_the_window_and_within_sqs_limits(timeout, window):
    config = StudioConfig(function_timeout_seconds=timeout, max_batching_window_seconds=window, batch_size=10)
    assert config.queue_visibility_timeout_seconds == 6 * timeout + window
    assert config.queue_visibility_timeout_seconds <= SQS_MAX_VISIBILITY_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    "context, defaults",
    [
        ({}, {"job_notifications": True, "failing_workers": True, "alert_failing_workers": True, "history": True}),
        (
            {"status_events": "false"},
            {"job_notifications": False, "failing_workers": False, "alert_failing_workers": False, "history": False},
        ),
        ({"failing_workers": "false"}, {"alert_failing_workers": False, "history": False}),
        ({"failing_workers": "false", "reports": "true"}, {"history": True}),
        ({"failing_workers": "", "history": ""}, {"failing_workers": True, "history": True}),  # empty: the default
    ],
)
def test_a_switch_left_out_follows_the_keys_it_depends_on(context, defaults):
    config = load(**context)
    assert {key: getattr(config, key) for key in defaults} == defaults


@pytest.mark.parametrize(
    "context, problem",
    [
        (
            {"status_events": "false", "job_notifications": "true"},
            "job_notifications=True is not allowed with status_events=False: job_notifications needs status_events; "
            "turn status_events on, or leave job_notifications out",
        ),
        (
            {"failing_workers": "false", "alert_failing_workers": "true"},
            "alert_failing_workers=True is not allowed with failing_workers=False",
        ),
        (
            {"history": "false"},
            "history=False is not allowed with failing_workers=True: failing_workers needs history; "
            "turn failing_workers off, or leave history out",
        ),
        ({"history": "false", "failing_workers": "false", "reports": "true"}, "history=False is not allowed with reports=True"),
    ],
)
def test_an_explicit_switch_against_the_keys_it_depends_on_names_both(context, problem):
    with pytest.raises(ConfigError) as raised:
        load(**context)
    assert problem in str(raised.value)


def test_a_list_of_objects_comes_from_a_file_or_from_json_text(tmp_path):
    channels = [{"name": "lighting", "slack": {"workspace_id": "T1", "channel_id": "C1"}}]
    assert load(tmp_path, config=write_config(tmp_path, {"chat_channels": channels})).chat_channels == tuple(channels)
    tracker = {"name": "tracker", "url_secret": "deadline/webhooks/tracker", "format": "json"}
    assert load(webhooks=json.dumps([tracker])).webhooks == (tracker,)
    with pytest.raises(ConfigError, match=r"webhooks='\[' is not allowed; allowed: a JSON list \("):
        load(webhooks="[")
    with pytest.raises(ConfigError, match=r"chat_channels\[1\]='lighting' is not allowed; allowed: a JSON object"):
        load(chat_channels=json.dumps([*channels, "lighting"]))


@pytest.mark.parametrize(
    "context, streams",
    [
        ({}, True),  # failing_workers reads it
        ({"failing_workers": "false"}, False),
        ({"failing_workers": "false", "history": "true"}, False),  # a history nobody streams from
        ({"failing_workers": "false", "reports": "true"}, True),  # the archive reads it
        ({"status_events": "false"}, False),
    ],
)
def test_the_history_streams_only_for_its_readers(context, streams):
    assert load(**context).history_stream is streams


def test_the_failing_workers_state_and_failure_queue_take_the_prefix_and_the_stacks_name():
    config = load(table_name_prefix="Acme-", studio_name="acme")
    assert config.worker_failure_table == "Acme-DeadlineWorkerFailures"
    assert config.queue_names["FarmHealthFailureQueue"] == "DeadlineNotifications-acme-farm-health-failures"
    assert "FarmHealthFailureQueue" not in load(failing_workers="false").queue_names
