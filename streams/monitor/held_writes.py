"""State writes held for one micro-batch, then written to a table once per key.

In a micro-batch a busy conversation is stepped several times and each step reads what the
previous one wrote. Writing every step to the Faust table sends one changelog record (its
head) per turn although only the last one per conversation survives compaction.
``HeldWrites`` serves reads from the held value and writes each key once in ``flush()``,
with the event that made the last change current, so the changelog record lands in that
event's partition. A deleted key stays readable until its delete is flushed.

Deletes are held longer: a turn record that left its conversation's window is deleted by
``flush_deletes()`` of the *next* batch, after the head that stopped listing it has reached the
broker (the agent awaits its acknowledgement first), so a head on the changelog never lists a
deleted record. A record written and dropped before the next flush is never written at all.

Faust acknowledges a ``take_events`` batch only after the agent's loop body has run, so a
crash before ``flush()`` replays the batch against the state from before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager as ContextManager
from typing import Any


class HeldWrites(MutableMapping[str, Any]):
    def __init__(self, table: MutableMapping[str, Any], current: Callable[[Any], ContextManager[None]]) -> None:
        self._table = table
        self._current = current
        self._held: dict[str, tuple[Any, Any]] = {}
        self._deletes: dict[str, Any] = {}  # asked for in this batch, with the event current then
        self._ready_deletes: dict[str, Any] = {}  # asked for in the batch before: done by the next flush_deletes
        self.event: Any = None  # the event being processed; set by the agent before each step

    def __getitem__(self, key: str) -> Any:
        if key in self._held:
            return self._held[key][0]
        return self._table[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._held[key] = (value, self.event)
        self._deletes.pop(key, None)
        self._ready_deletes.pop(key, None)

    def __delitem__(self, key: str) -> None:
        if key not in self._held and key not in self._table:
            raise KeyError(key)
        self._held.pop(key, None)
        if key in self._table:
            self._deletes[key] = self.event

    def __iter__(self) -> Iterator[str]:
        yield from {**dict.fromkeys(self._table), **dict.fromkeys(self._held)}

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        return key in self._held or key in self._table

    def flush(self) -> int:
        """Write every held value to the table; returns how many were written."""
        held, self._held = self._held, {}
        for key, (value, event) in held.items():
            with self._current(event):
                self._table[key] = value
        return len(held)

    def flush_deletes(self) -> int:
        """Delete what the batch before asked to; what this batch asked for waits for the next call."""
        ready, self._ready_deletes, self._deletes = self._ready_deletes, self._deletes, {}
        done = 0
        for key, event in ready.items():
            if key in self._table:
                with self._current(event):
                    del self._table[key]
                done += 1
        return done
