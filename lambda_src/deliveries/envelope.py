"""An SQS record's body -> what to deliver, and to which destinations.

Two kinds of body reach DeliveryQueue:
- a rule's wrapper, ``{"destination": "<name>", "event": <the EventBridge event>}`` (the rules'
  input template), delivered to that destination;
- an alarm-topic notification (SNS to SQS, raw delivery off: ``{"Type": "Notification", "TopicArn",
  "MessageId", "Message", ...}``), delivered to every destination with ``alarms``.
Anything else is a BadRecord: the handler logs its reason and reports it as a batch item failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .destinations import Destination


class BadRecord(ValueError):
    """A body the sender cannot deliver; the message says why."""


@dataclass(frozen=True)
class Delivery:
    """One thing to send to one destination: a status-change event, or an alarm-topic notification."""

    destination: Destination
    event: dict | None = None
    notification: dict | None = None


def deliveries_of(body: str, destinations: Mapping[str, Destination]) -> list[Delivery]:
    try:
        message = json.loads(body)
    except ValueError:
        raise BadRecord("the body is not JSON") from None
    if not isinstance(message, dict):
        raise BadRecord("the body is not a JSON object")
    if message.get("Type") == "Notification" and "TopicArn" in message:
        if not isinstance(message.get("MessageId"), str) or not isinstance(message.get("Message"), str):
            raise BadRecord("an SNS notification without MessageId or Message")
        return [Delivery(each, notification=message) for each in destinations.values() if each.alarms]
    name, event = message.get("destination"), message.get("event")
    if not isinstance(name, str) or not isinstance(event, dict):
        raise BadRecord("neither a rule's {destination, event} nor an SNS notification")
    if name not in destinations:
        raise BadRecord(f"the destination {name!r} is not one of the sender's ({', '.join(destinations)})")
    if not isinstance(event.get("detail"), dict):
        raise BadRecord("the event has no detail object")
    return [Delivery(destinations[name], event=event)]
