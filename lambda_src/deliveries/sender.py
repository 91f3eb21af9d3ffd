"""One batch of DeliveryQueue's records: each delivery claimed, sent, then confirmed or released.

A record whose delivery fails (or that is not a delivery at all) is a batch item failure: SQS
retries it, and after the queue's redrive count it reaches the delivery dead-letter queue (alarmed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping

from .destinations import ARTISTS, Destination
from .envelope import BadRecord, Delivery, deliveries_of
from .state import DeliveryState, change_id, change_ticks, state_key

OPT_OUT_FIELD = "notifyOptOut"  # status_events.changes.OPT_OUT_LABEL: the job's opt-out value on its events
OPT_OUT_VALUE = "off"

Send = Callable[[Delivery], None]


def opted_out(delivery: Delivery) -> bool:
    """An artists' delivery of a job whose submitter set the opt-out field to off (any case)."""
    detail = (delivery.event or {}).get("detail", {})
    value = detail.get(OPT_OUT_FIELD)
    return delivery.destination.kind == ARTISTS and isinstance(value, str) and value.strip().lower() == OPT_OUT_VALUE


class Sender:
    """Delivers SQS records to ``destinations`` with the ``send`` function of each destination's kind."""

    def __init__(
        self,
        destinations: Mapping[str, Destination],
        state: DeliveryState,
        send: Mapping[str, Send],
        *,
        log_stream=None,
    ):
        self.destinations = destinations
        self.state = state
        self.send = send
        self._stream = log_stream

    def handle(self, event: dict, context=None) -> dict:
        records = event.get("Records", [])
        counts: dict[str, int] = dict.fromkeys(("Sent", "Dropped", "OptedOut", "Failed", "BadRecords"), 0)
        failures = []
        for record in records:
            message_id = record.get("messageId", "")
            try:
                deliveries = deliveries_of(record.get("body", ""), self.destinations)
            except BadRecord as error:
                counts["BadRecords"] += 1
                self._log("ERROR", "bad_record", messageId=message_id, reason=str(error))
                failures.append({"itemIdentifier": message_id})
                continue
            outcomes = [self._deliver(delivery, message_id) for delivery in deliveries]
            for outcome in outcomes:
                counts[outcome] += 1
            if "Failed" in outcomes:
                failures.append({"itemIdentifier": message_id})
        self._log("INFO", "deliveries", Records=len(records), **counts,
                  requestId=getattr(context, "aws_request_id", None))
        return {"batchItemFailures": failures}

    def _deliver(self, delivery: Delivery, message_id: str) -> str:
        """One delivery: "Sent", "Dropped" (a repeat, or older than one sent), "OptedOut" or "Failed"."""
        if opted_out(delivery):
            return "OptedOut"
        where = {"event": delivery.event, "notification": delivery.notification}
        claim = self.state.claim(
            state_key(delivery.destination.name, **where), ticks=change_ticks(**where), event_id=change_id(**where)
        )
        if claim is None:
            self._log("INFO", "delivery_dropped", destination=delivery.destination.name, messageId=message_id,
                      eventId=change_id(**where), reason="already sent, being sent, or older than a change sent")
            return "Dropped"
        try:
            self.send[delivery.destination.kind](delivery)
        except Exception as error:  # any failure: give the claim back, SQS retries the record
            self.state.release(claim)
            self._log("ERROR", "delivery_failed", destination=delivery.destination.name, messageId=message_id,
                      eventId=claim.event_id, failure=type(error).__name__, reason=_reason(error))
            return "Failed"
        self.state.confirm(claim)
        return "Sent"

    def _log(self, level: str, event: str, **fields) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps({"level": level, "event": event, **fields}, separators=(",", ":"), default=str) + "\n")
        stream.flush()


def _reason(error: Exception) -> str:
    """What went wrong, without the request (a webhook's URL or header must never reach the log)."""
    reason = getattr(error, "reason", None)
    return str(reason) if reason is not None else type(error).__name__
