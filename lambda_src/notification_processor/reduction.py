"""A batch reduced to one write per key: its newest notification.

SQS standard queues deliver duplicates and out of order, so one batch can hold a
task's Started and Stopped notifications, or the same one twice. Writing only the
newest per key never sends a write already known to be stale (a failed conditional
write still costs write capacity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .notifications import Notification


@dataclass
class KeyWrite:
    """The newest notification of one key in a batch, and the batch's others for that key."""

    newest: Notification
    duplicates: list[Notification] = field(default_factory=list)  # same order as `newest`
    stale: list[Notification] = field(default_factory=list)  # older than `newest`

    @property
    def notifications(self) -> list[Notification]:
        return [self.newest, *self.duplicates, *self.stale]


def newest_per_key(notifications: list[Notification]) -> list[KeyWrite]:
    """One KeyWrite per (kind, key), in order of first appearance."""
    writes: dict[tuple, KeyWrite] = {}
    for notification in notifications:
        write = writes.get((notification.kind, notification.key))
        if write is None:
            writes[notification.kind, notification.key] = KeyWrite(notification)
        elif notification.order > write.newest.order:
            # The former newest and its duplicates are older than this one.
            write.stale += [write.newest, *write.duplicates]
            write.newest, write.duplicates = notification, []
        elif notification.order == write.newest.order:
            write.duplicates.append(notification)
        else:
            write.stale.append(notification)
    return list(writes.values())
