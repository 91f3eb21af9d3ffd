"""Config `webhooks`: every item checked, with errors naming the item, the key and what is allowed;
a URL that carries a token is refused. Pure Python: no synthesis."""

from __future__ import annotations

import json

import pytest

from deliveries.rendering import formats
from stacks.config import PROJECT_ROOT, ConfigError, load_config, project_context
from stacks.destinations import JSON_FORMAT, WEBHOOK_FORMATS, Webhook, event_pattern

SLACK = {"name": "slack-lighting", "url_secret": "deadline/webhooks/slack-lighting", "format": "slack"}
TRACKER = {"name": "tracker", "url": "https://tracker.studio.example/deadline", "format": "json"}


def load(*webhooks, **context):
    return load_config(
        {"studio": project_context()["studio"], "webhooks": json.dumps(list(webhooks)), **context},
        base_dir=PROJECT_ROOT,
    )


def problems_of(*webhooks, **context) -> str:
    with pytest.raises(ConfigError) as raised:
        load(*webhooks, **context)
    return str(raised.value)


def test_every_chat_format_has_its_one_template_and_json_is_the_event_as_it_is():
    assert set(WEBHOOK_FORMATS) - {JSON_FORMAT} <= set(formats())
    assert JSON_FORMAT not in formats()


def test_a_webhook_parses_with_its_defaults_and_its_pattern_from_its_filters():
    config = load(SLACK, {**TRACKER, "auth": {"header": "X-Api-Key", "secret": "deadline/tracker-key"},
                          "statuses": ["Failed"], "kinds": ["task"]})  # fmt: skip

    slack, tracker = config.webhook_list
    assert slack == Webhook(name="slack-lighting", format="slack", url_secret="deadline/webhooks/slack-lighting")
    assert not slack.api_destination and slack.secrets == ("deadline/webhooks/slack-lighting",)
    assert slack.pattern() == event_pattern(kinds=("job", "task"))
    assert tracker.api_destination and tracker.auth_header == "X-Api-Key"
    assert tracker.pattern() == event_pattern(kinds=("task",), statuses=("Failed",))


def test_a_secret_may_be_named_by_its_arn():
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deadline/webhooks/discord-AbCdEf"
    assert load({**SLACK, "url_secret": arn}).webhook_list[0].url_secret == arn


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "https://discord.com/api/webhooks/123/abc",
        "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t",
        "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s",
        "https://studio.webhook.office.com/webhookb2/abc",
        "https://default1234.environment.api.powerplatform.com/powerautomate/automations/direct/abc",
        "https://tracker.studio.example/hook?token=abc",
        "https://user:pass@tracker.studio.example/hook",
    ],
)
def test_a_url_that_carries_a_token_is_refused_without_repeating_it(url):
    problem = problems_of({**TRACKER, "url": url})
    assert "webhooks[0] (tracker).url looks like it carries a token" in problem
    assert "put it in a Secrets Manager secret and use url_secret" in problem
    assert url not in problem


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"url": "http://tracker.studio.example/hook"},
            "webhooks[0] (tracker).url=http://tracker.studio.example... is not allowed; allowed: an https:// URL",
        ),
        (
            {"url_secret": "deadline/x"},
            "give exactly one of url_secret (a Secrets Manager secret holding the URL) or url",
        ),
        (
            {"format": "mattermost"},
            "webhooks[0] (tracker).format='mattermost' is not allowed; allowed: one of slack, teams, discord, google_chat, json",
        ),
        ({"kinds": ["jobs"]}, "webhooks[0] (tracker).kinds=['jobs'] is not allowed; allowed: a list of job and task"),
        ({"kinds": []}, "kinds=[] is not allowed"),
        ({"statuses": "Failed"}, "webhooks[0] (tracker).statuses='Failed' is not allowed; allowed: a non-empty list"),
        ({"users": [""]}, "webhooks[0] (tracker).users=[''] is not allowed"),
        ({"statusses": ["Failed"]}, "webhooks[0] (tracker): unknown key 'statusses'; did you mean statuses?"),
        ({"name": "artists"}, "webhooks[0] (artists).name='artists' is not allowed; allowed: any other name"),
        ({"name": "tracker app"}, "name='tracker app' is not allowed; allowed: 1-40 letters, digits and hyphens"),
        (
            {"auth": {"header": "X Api", "secret": "s"}},
            "webhooks[0] (tracker).auth.header='X Api' is not allowed; allowed: an HTTP header name",
        ),
        (
            {"auth": {"header": "X-Api-Key", "secret": "bad secret"}},
            "webhooks[0] (tracker).auth.secret='bad secret' is not allowed; allowed: a Secrets Manager secret's name",
        ),
        ({"auth": {"header": "X-Api-Key", "secret": "s", "value": "v"}}, "auth: unknown key 'value'"),
    ],
)
def test_each_bad_key_is_named_with_what_is_allowed(change, problem):  # fmt: skip
    assert problem in problems_of({**TRACKER, **change})


def test_neither_url_nor_url_secret_is_refused():
    assert "not neither" in problems_of({"name": "tracker", "format": "json"})


def test_names_are_unique_across_webhooks_and_chat_channels():
    assert "webhooks[1] (tracker).name='tracker' is not allowed; allowed: a name no other" in problems_of(
        TRACKER, TRACKER
    )
    channel = {"name": "slack-lighting", "slack": {"workspace_id": "T07EXAMPLE1", "channel_id": "C07EXAMPLE1"}}
    assert "is a chat channel's too" in problems_of(SLACK, chat_channels=json.dumps([channel]))


def test_webhooks_need_the_status_events():
    assert "webhooks=[...] is not allowed with status_events=False" in problems_of(SLACK, status_events="false")
