"""Each change once, in order: the sender's state table on DynamoDB Local, with the stack's key schema.

The sends are recorded (or made to fail) by the test; what is under test is which records reach a send.
"""

from __future__ import annotations

import threading

from deliveries.destinations import ARTISTS, Destination
from deliveries.sender import Sender
from deliveries.state import DeliveryState, change_ticks, state_key
from tests.unit.deliveries_support import job_event, sqs_message, wrapped

LEASE_SECONDS = 30
ARTISTS_DESTINATION = Destination(name=ARTISTS, kind=ARTISTS, target="arn:aws:sns:us-east-1:1:jobs", format="email")


class Clock:
    def __init__(self, now: float = 1_700_000_000):
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSend:
    """Records each delivery's event id; fails the next ``failures`` sends."""

    def __init__(self):
        self.sent: list[str] = []
        self.failures = 0

    def __call__(self, delivery) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the topic did not answer")
        self.sent.append(delivery.event["detail"]["eventId"])


def sender_for(dynamodb_local, table: str, send: RecordingSend, clock: Clock | None = None) -> Sender:
    state = DeliveryState(dynamodb_local.client(), table, lease_seconds=LEASE_SECONDS, clock=clock or Clock())
    return Sender({ARTISTS: ARTISTS_DESTINATION}, state, {ARTISTS: send})


def change(event_id: str, timestamp: str, status: str = "Completed") -> dict:
    return job_event(eventId=event_id, timestamp=timestamp, status=status)


def batch(*events: dict) -> dict:
    return {"Records": [sqs_message(wrapped(ARTISTS, event), f"m-{event['detail']['eventId']}") for event in events]}


def test_a_repeat_by_event_id_is_dropped(dynamodb_local, state_table):
    send = RecordingSend()
    sender = sender_for(dynamodb_local, state_table, send)
    first = change("a" * 32, "2024-03-04T15:00:00.0000000Z")
    assert sender.handle(batch(first)) == {"batchItemFailures": []}
    assert sender.handle(batch(first, first)) == {"batchItemFailures": []}
    assert send.sent == ["a" * 32]


def test_an_older_change_after_a_newer_one_is_dropped(dynamodb_local, state_table):
    send = RecordingSend()
    sender = sender_for(dynamodb_local, state_table, send)
    newer = change("b" * 32, "2024-03-04T15:00:00.0000002Z", "Failed")
    older = change("c" * 32, "2024-03-04T15:00:00.0000001Z", "Completed")
    sender.handle(batch(newer, older))
    later = change("d" * 32, "2024-03-04T16:00:00.0000000Z", "Completed")
    sender.handle(batch(later))
    assert send.sent == ["b" * 32, "d" * 32]


def test_two_concurrent_claims_of_one_change_send_once(dynamodb_local, state_table):
    attempts = 8
    start = threading.Barrier(attempts)
    claims = []

    def claim():
        state = DeliveryState(dynamodb_local.client(), state_table, lease_seconds=LEASE_SECONDS)
        start.wait(timeout=60)
        claims.append(state.claim("artists#job#j1", ticks=5, event_id="e" * 32))

    threads = [threading.Thread(target=claim) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(claims) == attempts
    assert sum(claim is not None for claim in claims) == 1


def test_a_failed_send_is_released_and_retried(dynamodb_local, state_table):
    send = RecordingSend()
    send.failures = 1
    sender = sender_for(dynamodb_local, state_table, send)
    event = change("f" * 32, "2024-03-04T15:00:00.0000000Z")
    assert sender.handle(batch(event)) == {"batchItemFailures": [{"itemIdentifier": f"m-{'f' * 32}"}]}
    assert send.sent == []
    assert sender.handle(batch(event)) == {"batchItemFailures": []}  # SQS's retry
    assert send.sent == ["f" * 32]


def test_a_failed_send_puts_back_the_change_sent_before(dynamodb_local, state_table):
    send = RecordingSend()
    sender = sender_for(dynamodb_local, state_table, send)
    sender.handle(batch(change("1" * 32, "2024-03-04T15:00:00.0000000Z")))
    send.failures = 1
    sender.handle(batch(change("2" * 32, "2024-03-04T16:00:00.0000000Z")))
    item = dynamodb_local.client().get_item(TableName=state_table, Key={"key": {"S": state_key(
        ARTISTS, event=change("x", "2024-03-04T15:00:00Z"))}})["Item"]
    assert (item["event_id"]["S"], item["pending"]["BOOL"]) == ("1" * 32, False)
    sender.handle(batch(change("1" * 32, "2024-03-04T15:00:00.0000000Z")))  # still a repeat
    assert send.sent == ["1" * 32]


def test_a_crash_after_the_claim_is_resent_after_the_lease(dynamodb_local, state_table):
    clock = Clock()
    event = change("9" * 32, "2024-03-04T15:00:00.0000000Z")
    # A sender that claimed the change and crashed before sending it (no confirm, no release).
    crashed = DeliveryState(dynamodb_local.client(), state_table, lease_seconds=LEASE_SECONDS, clock=clock)
    assert crashed.claim(state_key(ARTISTS, event=event), ticks=change_ticks(event=event), event_id="9" * 32)
    send = RecordingSend()
    sender = sender_for(dynamodb_local, state_table, send, clock)
    clock.now += LEASE_SECONDS - 1
    sender.handle(batch(event))  # within the lease: perhaps still being sent
    assert send.sent == []
    clock.now += 2
    sender.handle(batch(event))
    assert send.sent == ["9" * 32]
