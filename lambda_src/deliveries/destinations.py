"""Where the sender delivers: one Destination per rule (artists, each chat channel, each webhook).

The stack writes them, as JSON, into the environment variable DELIVERY_DESTINATIONS: topic ARNs,
secret ids and plain URLs, never a secret's value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

DESTINATIONS_VARIABLE = "DELIVERY_DESTINATIONS"
ARTISTS = "artists"  # the job-notification topic's destination name (reserved)
CHAT = "chat"
WEBHOOK = "webhook"
KINDS = (ARTISTS, CHAT, WEBHOOK)
EMAIL_FORMAT = "email"
CHAT_FORMAT = "chat"


class ConfigurationError(RuntimeError):
    """The sender's environment does not say where to deliver."""


@dataclass(frozen=True)
class Destination:
    """One destination. ``target``: the topic ARN (artists, chat), or a webhook's URL secret id or plain URL."""

    name: str
    kind: str
    target: str
    format: str
    url_is_secret: bool = False
    auth_header: str | None = None
    auth_secret: str | None = None
    alarms: bool = False


def encode_destinations(destinations: Sequence[Destination]) -> str:
    """The value of DELIVERY_DESTINATIONS for ``destinations`` (what the stack writes)."""
    return json.dumps([asdict(each) for each in destinations], separators=(",", ":"))


def destinations_from_environment(environ: Mapping[str, str]) -> dict[str, Destination]:
    """The destinations DELIVERY_DESTINATIONS names, by name; ConfigurationError naming the variable if it is bad."""
    text = environ.get(DESTINATIONS_VARIABLE)
    if not text:
        raise ConfigurationError(f"{DESTINATIONS_VARIABLE} is not set: the stack sets it to the destinations' JSON list")
    known = {f.name for f in fields(Destination)}
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            raise TypeError("not a JSON list")
        destinations = [Destination(**{k: v for k, v in item.items() if k in known}) for item in items]
    except (ValueError, TypeError, AttributeError) as error:
        raise ConfigurationError(
            f"{DESTINATIONS_VARIABLE} is not a JSON list of destinations ({error}); redeploy the stack"
        ) from None
    wrong = [each.name for each in destinations if each.kind not in KINDS]
    if wrong:
        raise ConfigurationError(f"{DESTINATIONS_VARIABLE}: destinations {wrong} have no kind of {', '.join(KINDS)}")
    return {each.name: each for each in destinations}
