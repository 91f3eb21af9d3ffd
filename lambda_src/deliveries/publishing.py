"""SNS Publish for the artists' topic and the chat channels' topics.

Artists: MessageStructure json, a readable body for e-mail (and ``default``), the structured JSON
(the event's detail plus ``title``) for machine subscribers, an ASCII Subject, and message
attributes for subscriptions' filter policies, each left out when empty (SNS refuses an empty one).
Chat: Amazon Q Developer's custom-notification JSON (formats/chat.json) as the message.
"""

from __future__ import annotations

import json

from .destinations import CHAT_FORMAT, EMAIL_FORMAT
from .envelope import Delivery
from .message import message_fields, message_fields_of_alarm
from .rendering import render, render_subject

# Message attribute -> the event detail's field it carries (a subscription's filter policy names these).
ATTRIBUTES = {
    "userName": "userName",
    "status": "status",
    "pool": "pool",
    "group": "group",
    "plugin": "pluginName",
    "department": "department",
    "batchName": "batchName",
}
MACHINE_PROTOCOLS = ("sqs", "lambda", "https", "http", "firehose")
MAX_ATTRIBUTE_TEXT = 256  # filter policies match strings; a longer attribute is of no use to one


def fields_of(delivery: Delivery) -> dict[str, str]:
    if delivery.notification is not None:
        return message_fields_of_alarm(delivery.notification)
    return message_fields(delivery.event or {})


def artist_request(delivery: Delivery) -> dict:
    """The Publish request for the artists' topic (without TopicArn)."""
    event = delivery.event or {}
    fields = fields_of(delivery)
    text = render(EMAIL_FORMAT, fields)
    structured = json.dumps({**event.get("detail", {}), "title": fields["title"]}, separators=(",", ":"))
    message = {"default": text, "email": text, **dict.fromkeys(MACHINE_PROTOCOLS, structured)}
    return {
        "Message": json.dumps(message),
        "MessageStructure": "json",
        "Subject": render_subject(fields),
        "MessageAttributes": message_attributes(event.get("detail", {})),
    }


def chat_request(delivery: Delivery) -> dict:
    """The Publish request for a chat channel's topic (without TopicArn): the custom notification."""
    return {"Message": render(CHAT_FORMAT, fields_of(delivery))}


def message_attributes(detail: dict) -> dict:
    """The filterable attributes of an event's detail, each a String, none empty."""
    attributes = {}
    for name, source in ATTRIBUTES.items():
        value = detail.get(source)
        if value is None or isinstance(value, bool | list | dict):
            continue
        text = str(value).strip()[:MAX_ATTRIBUTE_TEXT]
        if text:
            attributes[name] = {"DataType": "String", "StringValue": text}
    return attributes


class TopicPublisher:
    """Publishes deliveries to their destination's topic with a boto3 SNS client."""

    def __init__(self, client):
        self._client = client

    def artists(self, delivery: Delivery) -> None:
        self._client.publish(TopicArn=delivery.destination.target, **artist_request(delivery))

    def chat(self, delivery: Delivery) -> None:
        self._client.publish(TopicArn=delivery.destination.target, **chat_request(delivery))
