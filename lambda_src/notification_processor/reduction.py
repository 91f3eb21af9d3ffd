"""A batch reduced to one write per key: its newest notification, and the older ones behind it.

SQS standard queues deliver duplicates and out of order, so one batch can hold a
task's Started and Stopped notifications, or the same one twice. Writing only the
newest per key never sends a write already known to be stale (a failed conditional
write still costs write capacity). If DynamoDB refuses the newest as invalid, the
key's next newest takes its place (`KeyWrite.next_newest`), so a bad notification
never takes the good ones of its key down with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, groupby

from .notifications import Notification


@dataclass(frozen=True)
class KeyWrite:
    """One key's notifications in a batch, newest first, in versions: the notifications of
    one version share their order (the same notification, delivered or sent more than once)."""

    versions: tuple[tuple[Notification, ...], ...]

    @property
    def newest(self) -> Notification:
        return self.versions[0][0]

    @property
    def duplicates(self) -> list[Notification]:
        """The newest version's other deliveries."""
        return list(self.versions[0][1:])

    @property
    def stale(self) -> list[Notification]:
        """The older versions' notifications, newest first."""
        return list(chain.from_iterable(self.versions[1:]))

    @property
    def notifications(self) -> list[Notification]:
        return list(chain.from_iterable(self.versions))

    def next_newest(self) -> KeyWrite | None:
        """The same key without its newest version, or None if that was the only one."""
        return KeyWrite(self.versions[1:]) if len(self.versions) > 1 else None


def newest_per_key(notifications: list[Notification]) -> list[KeyWrite]:
    """One KeyWrite per (kind, key), in order of first appearance."""
    by_key: dict[tuple, list[Notification]] = {}
    for notification in notifications:
        by_key.setdefault((notification.kind, notification.key), []).append(notification)
    return [
        KeyWrite(tuple(tuple(version) for _, version in groupby(
            sorted(same_key, key=_order, reverse=True), key=_order  # sorted() is stable: arrival order within a version
        )))
        for same_key in by_key.values()
    ]


def _order(notification: Notification) -> int:
    return notification.order
