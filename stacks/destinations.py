"""The destinations of the configuration (chat channels; webhooks), parsed and checked, and the ONE
function that builds a destination's rule pattern. Pure Python (no CDK import).

Each ``problems(items)`` is a config validator (stacks/config.py's ``_objects``): every problem
names the item (``chat_channels[1]`` and its name), the key, the bad value and what is allowed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from deliveries.destinations import ARTISTS
from notification_processor.roles import JOB, TABLE_ROLES, TASK
from status_events.changes import SOURCE, TEST_FIELD, status_change_type

# Destination names: rules, topics and state keys are named after them.
DESTINATION_NAME = re.compile(r"[A-Za-z0-9-]{1,40}")
RESERVED_NAMES = frozenset({ARTISTS})
SLACK_ID = re.compile(r"[0-9A-Z]{1,256}")  # CloudFormation's SlackWorkspaceId / SlackChannelId: ^[0-9A-Z]+$
UUID = re.compile(r"[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")  # Teams' TeamId, TeamsTenantId
# CloudFormation's TeamsChannelId (the URL-encoded id, e.g. 19%3Aabc...%40thread.tacv2).
TEAMS_CHANNEL_ID = re.compile(r"([a-zA-Z0-9-_=+/.,])*%3[aA]([a-zA-Z0-9-_=+/.,])*%40([a-zA-Z0-9-_=+/.,])*")
FILTER_KEYS = ("statuses", "users", "pools", "groups")
# Filter key -> the event detail's field it matches.
FILTER_FIELDS = {"statuses": "status", "users": "userName", "pools": "pool", "groups": "group"}
KIND_TYPES = {kind: status_change_type(TABLE_ROLES[kind]) for kind in (JOB, TASK)}
SLACK, TEAMS = "slack", "teams"
CHAT_SERVICE_KEYS = {SLACK: ("workspace_id", "channel_id"), TEAMS: ("team_id", "channel_id", "tenant_id")}
CHAT_KEYS = ("name", SLACK, TEAMS, *FILTER_KEYS, "alarms")


@dataclass(frozen=True)
class ChatChannel:
    """One Slack channel or Teams channel, reached through Amazon Q Developer in chat applications."""

    name: str
    service: str  # "slack" or "teams"
    ids: tuple[tuple[str, str], ...]  # the service's ids, e.g. (("workspace_id", "T0..."), ("channel_id", "C0..."))
    statuses: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    alarms: bool = False

    def id(self, name: str) -> str:
        return dict(self.ids)[name]

    @property
    def filters(self) -> dict[str, tuple[str, ...]]:
        return {key: getattr(self, key) for key in FILTER_KEYS}

    @classmethod
    def parse(cls, item: dict) -> ChatChannel:
        """A checked item (``chat_channel_problems`` found nothing) as a ChatChannel."""
        service = SLACK if SLACK in item else TEAMS
        return cls(
            name=item["name"],
            service=service,
            ids=tuple((key, item[service][key]) for key in CHAT_SERVICE_KEYS[service]),
            **{key: tuple(item.get(key, ())) for key in FILTER_KEYS},
            alarms=item.get("alarms", False),
        )


def named_items(key: str, items: Sequence, problems: list[str]) -> Iterator[tuple[str, dict]]:
    """Each item of config ``key`` that is an object, with where it is (``key[n]`` and its name); the
    problem of each that is not goes to ``problems``."""
    for number, item in enumerate(items):
        where = f"{key}[{number}]"
        if not isinstance(item, dict):
            problems.append(f"{where}={item!r} is not allowed; allowed: a JSON object (docs/notifications.md)")
            continue
        yield (f"{where} ({item['name']})" if isinstance(item.get("name"), str) else where), item


def chat_channel_problems(items: Sequence) -> list[str]:
    """Every problem of config chat_channels' items."""
    problems: list[str] = []
    names: dict[str, str] = {}
    for where, item in named_items("chat_channels", items, problems):
        problems += _unknown_keys(where, item, CHAT_KEYS)
        problems += name_problems(where, item.get("name"), names)
        services = [service for service in CHAT_SERVICE_KEYS if service in item]
        if len(services) != 1:
            problems.append(f"{where}: give exactly one of slack or teams, not {services or 'neither'}")
        for service in services:
            problems += _ids_problems(f"{where}.{service}", item[service], service)
        problems += filter_problems(where, item)
        if not isinstance(item.get("alarms", False), bool):
            problems.append(f"{where}.alarms={item['alarms']!r} is not allowed; allowed: true or false")
    return problems


def filter_problems(where: str, item: dict) -> list[str]:
    """The problems of an item's optional filters: each a non-empty list of non-empty strings."""
    return [
        f"{where}.{key}={item[key]!r} is not allowed; allowed: a non-empty list of strings (leave it out for all)"
        for key in FILTER_KEYS
        if key in item
        and not (
            isinstance(item[key], list)
            and item[key]
            and all(isinstance(value, str) and value.strip() for value in item[key])
        )
    ]


def name_problems(where: str, name, seen: dict[str, str]) -> list[str]:
    """The problems of a destination's name; ``seen`` holds the names so far (name -> where)."""
    if not isinstance(name, str) or DESTINATION_NAME.fullmatch(name) is None:
        return [f"{where}.name={name!r} is not allowed; allowed: 1-40 letters, digits and hyphens"]
    if name in RESERVED_NAMES:
        return [f"{where}.name={name!r} is not allowed; allowed: any other name ({name} is the artists' topic)"]
    if name in seen:
        return [f"{where}.name={name!r} is not allowed; allowed: a name no other destination has ({seen[name]})"]
    seen[name] = where
    return []


def _ids_problems(where: str, ids, service: str) -> list[str]:
    if not isinstance(ids, dict):
        return [f"{where}={ids!r} is not allowed; allowed: an object with {', '.join(CHAT_SERVICE_KEYS[service])}"]
    problems = _unknown_keys(where, ids, CHAT_SERVICE_KEYS[service])
    for key in CHAT_SERVICE_KEYS[service]:
        pattern, allowed = _ID_PATTERNS[service, key]
        value = ids.get(key)
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            problems.append(f"{where}.{key}={value!r} is not allowed; allowed: {allowed}")
    return problems


_SLACK_ALLOWED = "Slack's id (capital letters and digits, e.g. T07EXAMPLE1), from the Q Developer console"
_UUID_ALLOWED = "a UUID (e.g. 8c1e2f6a-0b3d-4e5f-9a7b-1c2d3e4f5a6b), from the Q Developer console"
_ID_PATTERNS = {
    (SLACK, "workspace_id"): (SLACK_ID, _SLACK_ALLOWED),
    (SLACK, "channel_id"): (SLACK_ID, _SLACK_ALLOWED),
    (TEAMS, "team_id"): (UUID, _UUID_ALLOWED),
    (TEAMS, "tenant_id"): (UUID, _UUID_ALLOWED),
    (TEAMS, "channel_id"): (
        TEAMS_CHANNEL_ID,
        "the URL-encoded channel id from the channel's link (e.g. 19%3Aabc123%40thread.tacv2)",
    ),
}


def _unknown_keys(where: str, item: dict, known: Sequence[str]) -> list[str]:
    problems = []
    for key in item:
        if key in known:
            continue
        nearest = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        guess = f"did you mean {nearest[0]}? " if nearest else ""
        problems.append(f"{where}: unknown key {key!r}; {guess}known keys: {', '.join(known)}")
    return problems


def event_pattern(
    *,
    kinds: Sequence[str] = (JOB,),
    statuses: Sequence[str] = (),
    users: Sequence[str] = (),
    pools: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> dict:
    """A destination's rule pattern (EventBridge's JSON form) from its filters; an empty filter matches all.

    Status changes of ``kinds`` (job, task) from the pipeline, never test jobs (smoke, verify)."""
    detail: dict[str, list] = {}
    for key, values in (("statuses", statuses), ("users", users), ("pools", pools), ("groups", groups)):
        if values:
            detail[FILTER_FIELDS[key]] = list(values)
    detail[TEST_FIELD] = [{"exists": False}]
    return {"source": [SOURCE], "detail-type": [KIND_TYPES[kind] for kind in kinds], "detail": detail}


def rule_name(destination: str) -> str:
    """A destination rule's name (unique on the stack's own bus; at most 48 of EventBridge's 64 characters)."""
    return f"deliver-{destination}"


def rule_input_template(destination: str) -> str:
    """A destination rule's InputTemplate: the whole event (EventBridge's reserved variable), wrapped with
    the destination's name, which the sender reads (deliveries.envelope)."""
    return f'{{"destination": "{destination}", "event": <aws.events.event.json>}}'


# Webhooks (config `webhooks`): a production tracker's receiver (`json`) or a chat service's webhook.
WEBHOOK_FORMATS = ("slack", "teams", "discord", "google_chat", "json")
JSON_FORMAT = "json"  # the event as it is
WEBHOOK_KINDS = (JOB, TASK)
WEBHOOK_KEYS = ("name", "url_secret", "url", "auth", "format", *FILTER_KEYS, "kinds")
AUTH_KEYS = ("header", "secret")
# A secret's ARN (full or partial) or name, as Secrets Manager allows them.
SECRET_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}")
SECRET_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # an HTTP header's name (RFC 9110 token)
MAX_URL = 2048  # an API destination's InvocationEndpoint
# Webhook URLs whose path or query is the credential: they belong in a secret (url_secret), never in `url`.
TOKEN_URL_HOSTS = (
    "hooks.slack.com",
    "chat.googleapis.com",
    "discord.com",
    "discordapp.com",
    ".webhook.office.com",
    ".logic.azure.com",
    ".powerautomate.com",
    ".powerplatform.com",
)
TOKEN_QUERY_NAMES = frozenset(
    {"token", "access_token", "key", "apikey", "api_key", "sig", "signature", "secret", "code"}
)


@dataclass(frozen=True)
class Webhook:
    """One webhook: its endpoint (a secret holding the URL, or a URL that is no secret), an optional header
    whose value is a secret, a format, and filters (empty: all)."""

    name: str
    format: str
    url_secret: str | None = None
    url: str | None = None
    auth_header: str | None = None
    auth_secret: str | None = None
    statuses: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = WEBHOOK_KINDS

    @property
    def filters(self) -> dict[str, tuple[str, ...]]:
        return {key: getattr(self, key) for key in FILTER_KEYS}

    @property
    def api_destination(self) -> bool:
        """Delivered by an EventBridge API destination (a plain URL, the event as it is), else by the sender."""
        return self.url is not None and self.format == JSON_FORMAT

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets the sender reads for this webhook (the URL's, the header's)."""
        return tuple(secret for secret in (self.url_secret, self.auth_secret) if secret)

    def pattern(self) -> dict:
        return event_pattern(kinds=self.kinds, **self.filters)

    @classmethod
    def parse(cls, item: dict) -> Webhook:
        """A checked item (``webhook_problems`` found nothing) as a Webhook."""
        auth = item.get("auth", {})
        return cls(
            name=item["name"],
            format=item["format"],
            url_secret=item.get("url_secret"),
            url=item.get("url"),
            auth_header=auth.get("header"),
            auth_secret=auth.get("secret"),
            **{key: tuple(item.get(key, ())) for key in FILTER_KEYS},
            kinds=tuple(item.get("kinds", WEBHOOK_KINDS)),
        )


def webhook_problems(items: Sequence) -> list[str]:
    """Every problem of config webhooks' items."""
    problems: list[str] = []
    names: dict[str, str] = {}
    for where, item in named_items("webhooks", items, problems):
        problems += _unknown_keys(where, item, WEBHOOK_KEYS)
        problems += name_problems(where, item.get("name"), names)
        endpoints = [key for key in ("url_secret", "url") if key in item]
        if len(endpoints) != 1:
            problems.append(
                f"{where}: give exactly one of url_secret (a Secrets Manager secret holding the URL) or url "
                f"(an endpoint whose URL is no secret), not {endpoints or 'neither'}"
            )
        if "url_secret" in item:
            problems += _secret_problems(f"{where}.url_secret", item["url_secret"])
        if "url" in item:
            problems += _url_problems(f"{where}.url", item["url"])
        if "auth" in item:
            problems += _auth_problems(f"{where}.auth", item["auth"])
        if item.get("format") not in WEBHOOK_FORMATS:
            problems.append(
                f"{where}.format={item.get('format')!r} is not allowed; allowed: one of {', '.join(WEBHOOK_FORMATS)}"
            )
        problems += filter_problems(where, item)
        kinds = item.get("kinds", list(WEBHOOK_KINDS))
        if not (
            isinstance(kinds, list) and kinds and len(set(kinds)) == len(kinds) and set(kinds) <= set(WEBHOOK_KINDS)
        ):
            problems.append(
                f"{where}.kinds={kinds!r} is not allowed; allowed: a list of {' and '.join(WEBHOOK_KINDS)}, "
                "each once (leave it out for both)"
            )
    return problems


def _secret_problems(where: str, value) -> list[str]:
    if isinstance(value, str) and (SECRET_ARN.fullmatch(value) or SECRET_NAME.fullmatch(value)):
        return []
    return [
        f"{where}={value!r} is not allowed; allowed: a Secrets Manager secret's name (e.g. "
        "deadline/webhooks/slack-lighting) or ARN"
    ]


def _url_problems(where: str, value) -> list[str]:
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        hostname = parts.hostname if parts else None
    except ValueError:  # e.g. an unclosed [ of an IPv6 host
        parts = hostname = None
    if parts is None or not hostname or parts.scheme != "https" or len(value) > MAX_URL or " " in value:
        shown = f"{parts.scheme}://{hostname or ''}..." if parts else repr(value)  # never the path: it may be a token
        return [f"{where}={shown} is not allowed; allowed: an https:// URL of at most {MAX_URL} characters"]
    host = hostname.lower()
    query_names = {name.lower() for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    if parts.username or parts.password or query_names & TOKEN_QUERY_NAMES or _token_host(host):
        # The value itself is not repeated: it may be the credential.
        return [
            f"{where} looks like it carries a token ({host}): it would be readable in the template and the "
            "config; put it in a Secrets Manager secret and use url_secret"
        ]
    return []


def _token_host(host: str) -> bool:
    return any(host.endswith(known) if known.startswith(".") else host == known for known in TOKEN_URL_HOSTS)


def _auth_problems(where: str, auth) -> list[str]:
    if not isinstance(auth, dict):
        return [f"{where}={auth!r} is not allowed; allowed: an object with header and secret"]
    problems = _unknown_keys(where, auth, AUTH_KEYS)
    header = auth.get("header")
    if not isinstance(header, str) or HEADER_NAME.fullmatch(header) is None:
        problems.append(f"{where}.header={header!r} is not allowed; allowed: an HTTP header name (e.g. Authorization)")
    problems += _secret_problems(f"{where}.secret", auth.get("secret"))
    return problems
