"""State writes held for one micro-batch, then written to the table once per conversation.

In a micro-batch a busy conversation is stepped several times and each step reads what the
previous one wrote. Writing every step to the Faust table sends one changelog record (the
whole state, ~28 KB) per turn although only the last one per conversation survives
compaction. ``HeldWrites`` serves reads from the held value and writes each conversation
once in ``flush()``, with the event that made the last change current, so the changelog
record lands in that event's partition.

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
        self.event: Any = None  # the event being processed; set by the agent before each step

    def __getitem__(self, key: str) -> Any:
        if key in self._held:
            return self._held[key][0]
        return self._table[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._held[key] = (value, self.event)

    def __delitem__(self, key: str) -> None:
        self.flush()
        del self._table[key]

    def __iter__(self) -> Iterator[str]:
        yield from {**dict.fromkeys(self._table), **dict.fromkeys(self._held)}

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        return key in self._held or key in self._table

    def flush(self) -> int:
        """Write every held state to the table; returns how many were written."""
        held, self._held = self._held, {}
        for key, (value, event) in held.items():
            with self._current(event):
                self._table[key] = value
        return len(held)
