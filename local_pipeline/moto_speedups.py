"""Make moto's SQS usable with thousands of messages in a queue.

moto 5.2.5 recomputes a queue's attributes, including the three message counts,
for every message it sends and for every message it receives, and each count
checks every message's visibility against a clock that builds two datetimes per
call. Sending 2,500 messages to one queue takes minutes that way (quadratic).
This replaces the counts, and the list of visible messages, with single passes
that read the clock once, reads the retention period of a received message
directly, and finds a deleted message in one pass; the results are the same.
One fix: the counts of one GetQueueAttributes call are taken at one instant (see
_queue_attributes_at_one_instant). Nothing else is changed.

`fix_moto_eventbridge_text_to_sqs` fixes one thing in moto's EventBridge, which the
same server answers: a rule target's input that is text (an input transformer whose
template is a JSON string, as the job alerts' is) reaches an SQS queue as that text,
as EventBridge delivers it.
"""

from __future__ import annotations

import threading
import time

from moto.events import models as events_models
from moto.sqs import models

_ORIGINAL_GET_QUEUE_ATTRIBUTES = models.SQSBackend.get_queue_attributes
_instant = threading.local()  # the clock of the GetQueueAttributes call this server thread is answering


def _clock_millis() -> float:
    return time.time() * 1000.0  # what moto's unix_time_millis() computes, without datetimes


def _now_millis() -> float:
    frozen = getattr(_instant, "millis", None)
    return frozen if frozen is not None else _clock_millis()


def _queue_attributes_at_one_instant(backend, queue_name: str, attribute_names: list[str]) -> dict:
    # moto reads the clock anew for each count (and recomputes every attribute per name asked), so a
    # message whose visibility timeout ended in between was counted neither visible nor in flight: an
    # "empty" queue that was not, which ended drain waits early.
    _instant.millis = _clock_millis()
    try:
        return _ORIGINAL_GET_QUEUE_ATTRIBUTES(backend, queue_name, attribute_names)
    finally:
        _instant.millis = None


def _visible_messages(queue) -> list:
    now = _now_millis()
    return [message for message in queue._messages if now > message.visible_at and not now < message.delayed_until]


def _count_not_visible(queue) -> int:
    now = _now_millis()
    return sum(1 for message in queue._messages if not now > message.visible_at)


def _count_delayed(queue) -> int:
    now = _now_millis()
    return sum(1 for message in queue._messages if now < message.delayed_until)


def _within_retention_period(backend, queue_name: str, message) -> bool:
    # moto computed all the queue's attributes (counts included) to read this one, per message received.
    retention = int(backend.get_queue(queue_name).message_retention_period)
    return retention + message.sent_timestamp / 1000 > time.time()


def _delete_message(queue, receipt_handle: str) -> None:
    # moto scanned the queue twice per deleted message; once is enough.
    if receipt_handle in queue.deleted_messages:
        return  # already deleted: SQS accepts a second delete
    found = next((message for message in queue._messages if message.had_receipt_handle(receipt_handle)), None)
    if found is None:
        raise models.ReceiptHandleIsInvalid()
    # Under the lock moto's add_message holds, so a message sent meanwhile is never lost.
    with queue._messages_lock:
        queue.pending_messages.discard(found)
        queue.deleted_messages.update(found.all_receipt_handles)
        queue._messages = [message for message in queue._messages if message is not found]


def speed_up_moto_sqs() -> None:
    """Patch moto's SQS in this process (idempotent)."""
    models.SQSBackend.is_message_valid_based_on_retention_period = _within_retention_period
    models.SQSBackend.get_queue_attributes = _queue_attributes_at_one_instant
    queue = models.Queue
    queue.delete_message = _delete_message
    queue.messages = property(_visible_messages)
    queue.approximate_number_of_messages = property(lambda self: len(_visible_messages(self)))
    queue.approximate_number_of_messages_not_visible = property(_count_not_visible)
    queue.approximate_number_of_messages_delayed = property(_count_delayed)


_ORIGINAL_SEND_TO_SQS = events_models.Rule._send_to_sqs_queue


def _send_to_sqs_queue(rule, resource_id: str, event, group_id: str | None = None) -> None:
    # moto looks for "time" in the transformed input to reformat it, which fails on text that
    # contains the word; text goes to the queue as it is.
    if isinstance(event, dict):
        _ORIGINAL_SEND_TO_SQS(rule, resource_id, event, group_id)
        return
    backend = models.sqs_backends[rule.account_id][rule.region_name]
    backend.send_message(queue_name=resource_id, message_body=str(event), group_id=group_id)


def fix_moto_eventbridge_text_to_sqs() -> None:
    """Patch moto's EventBridge in this process (idempotent)."""
    events_models.Rule._send_to_sqs_queue = _send_to_sqs_queue
