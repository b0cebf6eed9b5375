"""The monitor's tables: conversation heads and turn records, stored with the state codec;
the heads table's changelog recovery never goes back in time.

Without transactions (tansu has none) a worker that is slow to give up a partition in a
rebalance can still write state after the new owner has read the changelog: a zombie write.
Replayed in offset order, such a record would overwrite the new owner's later state, and
the next owner would resume after its committed offset from a state that is turns behind:
a silent gap, and alerts never raised (seen in ``turnwatch crashtest --workers 2``).

A conversation's state only moves forward (``last_index`` grows with every turn applied),
and processing is deterministic, so two writers that applied the same turns wrote the same
state. Recovery therefore keeps, per conversation, the record with the highest
``last_index`` instead of the last one read.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Iterable
from typing import Any

import faust
from faust.types import EventT

from streams import metrics
from streams.monitor import state_codec


def last_index(value: Any) -> int:
    """The last turn a stored state has applied (-1 for none or an unreadable value)."""
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        try:
            value = state_codec.loads(value)
        except (ValueError, zlib.error):
            return -1
    if isinstance(value, dict) and isinstance(value.get("last_index"), int):
        return value["last_index"]
    return -1


def newest_only(batch: Iterable[EventT], current: Any) -> list[EventT]:
    """The events of a changelog batch that move their key forward; ``current(key)`` is what
    the store holds now. Deletions always pass."""
    kept: list[EventT] = []
    newest: dict[Any, int] = {}
    for event in batch:
        if event.message.value is None:
            newest[event.key] = -1
            kept.append(event)
            continue
        incoming = last_index(event.value)
        known = newest[event.key] if event.key in newest else last_index(current(event.key))
        if incoming >= known:
            newest[event.key] = incoming
            kept.append(event)
    return kept


class StateTable(faust.Table):
    """A table whose values are written with ``streams.monitor.state_codec``, and which keeps the
    broker acknowledgement of each changelog record it sends until ``acknowledged`` awaits it:
    the producer's own flush is no barrier (it returns after 0.1 s without progress)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.value_serializer = state_codec.CODEC_NAME
        self._unacknowledged: list[Awaitable[Any]] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        sent = super().send_changelog(*args, **kwargs)
        self._unacknowledged.append(sent)
        return sent

    async def acknowledged(self) -> None:
        """Every changelog record sent so far is on the broker (raises if one failed)."""
        sent, self._unacknowledged = self._unacknowledged, []
        await asyncio.gather(*sent)


class TurnTable(StateTable):
    """Turn records keyed ``<conversation_id>#<turn_index>``: written once, deleted when they leave
    the window. A record never changes, so two writers of one key write the same value."""


class ConversationTable(StateTable):
    """Conversation heads; recovery keeps the newest head of each conversation."""

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        def current(key: Any) -> Any:
            try:
                return self.data[self._to_key(key)]
            except KeyError:
                return None

        events = list(batch)
        kept = newest_only(events, current)
        metrics.STALE_STATE_RECORDS.inc(len(events) - len(kept))
        super().apply_changelog_batch(kept)
