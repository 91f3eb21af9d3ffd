"""The destinations of the configuration: chat channels' items checked with clear errors, and the one
rule-pattern function. Pure Python: no synthesis."""

from __future__ import annotations

import re

import pytest

from stacks.config import ConfigError, StudioConfig
from stacks.destinations import ChatChannel, chat_channel_problems, event_pattern, rule_input_template

SLACK = {"name": "wranglers", "slack": {"workspace_id": "T07EXAMPLE1", "channel_id": "C07EXAMPLE2"}}
TEAMS = {
    "name": "lighting",
    "teams": {
        "team_id": "8c1e2f6a-0b3d-4e5f-9a7b-1c2d3e4f5a6b",
        "channel_id": "19%3Aexample0channel%40thread.tacv2",
        "tenant_id": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    },
    "statuses": ["Completed", "Failed"],
    "users": ["amelie"],
    "alarms": True,
}


def test_valid_channels_parse():
    assert chat_channel_problems([SLACK, TEAMS]) == []
    channel = ChatChannel.parse(TEAMS)
    assert (channel.service, channel.id("tenant_id"), channel.alarms) == ("teams", TEAMS["teams"]["tenant_id"], True)
    assert channel.filters == {"statuses": ("Completed", "Failed"), "users": ("amelie",), "pools": (), "groups": ()}
    assert ChatChannel.parse(SLACK).alarms is False


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ("wranglers", "chat_channels[0]='wranglers' is not allowed; allowed: a JSON object"),
        ({**SLACK, "name": "has space"}, "chat_channels[0] (has space).name='has space' is not allowed; allowed: 1-40"),
        ({**SLACK, "name": "artists"}, "name='artists' is not allowed; allowed: any other name (artists is"),
        ({"name": "x"}, "chat_channels[0] (x): give exactly one of slack or teams, not neither"),
        ({**SLACK, "teams": TEAMS["teams"]}, "give exactly one of slack or teams, not ['slack', 'teams']"),
        ({**SLACK, "slack": {"workspace_id": "t07example", "channel_id": "C1"}},
         "chat_channels[0] (wranglers).slack.workspace_id='t07example' is not allowed; allowed: Slack's id"),
        ({**SLACK, "slack": {"workspace_id": "T1"}}, "slack.channel_id=None is not allowed"),
        ({**SLACK, "slack": {"workspace_id": "T1", "channel_id": "C1", "chanel": "x"}},
         "slack: unknown key 'chanel'; did you mean channel_id?"),
        ({**TEAMS, "teams": {**TEAMS["teams"], "team_id": "not-a-uuid"}}, "teams.team_id='not-a-uuid' is not allowed; allowed: a UUID"),
        ({**TEAMS, "teams": {**TEAMS["teams"], "channel_id": "19:abc@thread.tacv2"}},
         "teams.channel_id='19:abc@thread.tacv2' is not allowed; allowed: the URL-encoded channel id"),
        ({**SLACK, "status": ["Failed"]}, "chat_channels[0] (wranglers): unknown key 'status'; did you mean statuses?"),
        ({**SLACK, "users": []}, "users=[] is not allowed; allowed: a non-empty list of strings"),
        ({**SLACK, "pools": "gpu"}, "pools='gpu' is not allowed; allowed: a non-empty list of strings"),
        ({**SLACK, "alarms": "yes"}, "alarms='yes' is not allowed; allowed: true or false"),
    ],
)
def test_a_bad_channel_is_named_with_its_key_and_what_is_allowed(item, problem):
    problems = chat_channel_problems([item])
    assert any(problem in each for each in problems), problems


def test_names_are_unique():
    problems = chat_channel_problems([SLACK, {**TEAMS, "name": "wranglers"}])
    assert problems == [
        "chat_channels[1] (wranglers).name='wranglers' is not allowed; allowed: a name no other destination has "
        "(chat_channels[0] (wranglers))"
    ]


def test_the_config_rejects_bad_channels_and_channels_without_status_events():
    with pytest.raises(ConfigError, match=re.escape("chat_channels[0] (x): give exactly one of slack or teams")):
        StudioConfig(chat_channels=({"name": "x"},))
    with pytest.raises(ConfigError, match=re.escape("chat_channels=[...] is not allowed with status_events=False")):
        StudioConfig(status_events=False, chat_channels=(SLACK,))
    with pytest.raises(ConfigError, match="the name 'wranglers' is a chat channel's too"):
        StudioConfig(chat_channels=(SLACK,), webhooks=({"name": "wranglers", "url_secret": "hook", "format": "slack"},))
    assert [each.name for each in StudioConfig(chat_channels=(SLACK, TEAMS)).chat_channel_list] == ["wranglers", "lighting"]


def test_the_pattern_matches_job_status_changes_through_the_filters_and_never_test_jobs():
    assert event_pattern() == {
        "source": ["deadline-sqs-notifications"],
        "detail-type": ["Deadline Job Status Change"],
        "detail": {"test": [{"exists": False}]},
    }
    pattern = event_pattern(kinds=("job", "task"), statuses=["Failed"], users=["amelie"], pools=["gpu"], groups=["fx"])
    assert pattern["detail-type"] == ["Deadline Job Status Change", "Deadline Task Status Change"]
    assert pattern["detail"] == {
        "status": ["Failed"], "userName": ["amelie"], "pool": ["gpu"], "group": ["fx"], "test": [{"exists": False}]
    }


def test_the_input_template_wraps_the_whole_event():
    assert rule_input_template("artists") == '{"destination": "artists", "event": <aws.events.event.json>}'
