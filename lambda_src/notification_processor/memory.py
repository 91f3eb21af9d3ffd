"""A container's memory of what it knows each key's stored item to be (an optimization only).

It lets a write be an UPDATE against the known item instead of a whole conditional
PutItem, in one request with other keys. It is never trusted: every statement's
condition checks it, and a wrong memory (another container wrote, an item was
deleted or restored, the container restarted) costs one more statement, never a
wrong item.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from .statements import Stored

# About 200 bytes a key (the name sets are shared): some MB at most of a 128 MB function.
DEFAULT_KEYS_REMEMBERED = 50_000


class StoredItems:
    """The newest `Stored` per (table, key), least recently used forgotten first (thread-safe)."""

    def __init__(self, capacity: int = DEFAULT_KEYS_REMEMBERED):
        self._capacity = capacity
        self._known: OrderedDict[tuple, Stored] = OrderedDict()
        self._name_sets: dict[frozenset[str], frozenset[str]] = {}
        self._lock = threading.Lock()

    def get(self, table: str, key: tuple) -> Stored | None:
        with self._lock:
            known = self._known.get((table, key))
            if known is not None:
                self._known.move_to_end((table, key))
            return known

    def learn(self, table: str, key: tuple, stored: Stored | None) -> None:
        """Remember `stored` for the key; None forgets it."""
        with self._lock:
            if stored is None:
                self._known.pop((table, key), None)
                return
            if len(self._name_sets) > self._capacity:
                self._name_sets.clear()
            names = self._name_sets.setdefault(stored.names, stored.names)
            self._known[(table, key)] = Stored(stored.order, names)
            self._known.move_to_end((table, key))
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)
