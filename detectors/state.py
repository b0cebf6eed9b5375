"""Per-conversation state: a bounded window of recent turns and their features.

The state is plain data so the stream layer can keep it in Faust tables (JSON changelogs)
and ``turnwatch scan`` in dicts; detectors only read it. It is stored in two parts: a small
head (``head_dict``: the window's turn indices, detector memories, the episode book), which
changes with every turn, and one record per turn (``TurnRecord.to_dict``), which never
changes once written; ``from_parts`` puts them back together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from detectors.features import TurnFeatures

MAX_TRACKED_GAPS = 64


class DetectorMemory(Protocol):
    """A detector's own typed scratch space, kept with the conversation state."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorMemory: ...


M = TypeVar("M", bound=DetectorMemory)


class Arrival(StrEnum):
    """How a turn index relates to what this conversation has already processed."""

    NEXT = "next"  # the expected next index
    GAP = "gap"  # ahead of the expected index: some turns are missing (yet)
    DUPLICATE = "duplicate"  # already processed
    LATE = "late"  # fills a gap after later turns were processed


def plain_copy(value: Any) -> Any:
    """A copy of stored JSON-shaped data (dicts, lists, tuples of plain values), several times
    faster than ``copy.deepcopy``, which this runs on every turn's state load."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain_copy(item) for item in value)
    return value


@dataclass
class TurnRecord:
    index: int
    role: str
    text: str
    features: TurnFeatures = field(default_factory=TurnFeatures)
    ts: float | None = None  # when the turn happened (seconds since the epoch), from the event

    def to_dict(self) -> dict[str, Any]:
        out = {"i": self.index, "r": self.role, "t": self.text, "f": self.features.to_dict()}
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnRecord:
        return cls(
            index=data["i"],
            role=data["r"],
            text=data["t"],
            features=TurnFeatures.from_dict(data.get("f", {})),
            ts=data.get("ts"),
        )


@dataclass
class ConversationState:
    conversation_id: str
    window_size: int = 24
    last_index: int = -1
    missing: list[int] = field(default_factory=list)
    window: list[TurnRecord] = field(default_factory=list)
    turns_processed: int = 0
    episodes: dict[str, Any] = field(default_factory=dict)  # the pipeline's episode book (plain data)
    stored_memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    stored_window: tuple[int, ...] = ()  # the turn indices whose records the store holds for this state
    _memory: dict[str, DetectorMemory] = field(default_factory=dict, repr=False)

    def memory(self, detector: str, kind: type[M]) -> M:
        """``detector``'s typed memory, read from the stored state on first use."""
        found = self._memory.get(detector)
        if not isinstance(found, kind):
            found = kind.from_dict(self.stored_memory.get(detector, {}))
            self._memory[detector] = found
        return found

    def arrival(self, index: int) -> Arrival:
        if index == self.last_index + 1:
            return Arrival.NEXT
        if index > self.last_index:
            return Arrival.GAP
        if index in self.missing:
            return Arrival.LATE
        return Arrival.DUPLICATE

    def record(self, turn: TurnRecord) -> None:
        """Add a processed turn (NEXT or GAP) and keep the window bounded."""
        if turn.index > self.last_index + 1:
            self.missing.extend(range(max(self.last_index + 1, turn.index - MAX_TRACKED_GAPS), turn.index))
            del self.missing[:-MAX_TRACKED_GAPS]
        self.last_index = max(self.last_index, turn.index)
        self.window.append(turn)
        del self.window[: -self.window_size]
        self.turns_processed += 1

    def forget_missing(self, index: int) -> None:
        if index in self.missing:
            self.missing.remove(index)

    def previous(self, role: str | None = None, before: int | None = None) -> Iterator[TurnRecord]:
        """Turns in the window, newest first, optionally of one role and before an index."""
        for turn in reversed(self.window):
            if before is not None and turn.index >= before:
                continue
            if role is None or turn.role == role:
                yield turn

    def to_dict(self) -> dict[str, Any]:
        """The whole state in one value (the head with every turn record in its window)."""
        return {**self.head_dict(), "window": [t.to_dict() for t in self.window]}

    def head_dict(self) -> dict[str, Any]:
        """Everything but the turn records: their indices stand in for them."""
        return {
            "conversation_id": self.conversation_id,
            "window_size": self.window_size,
            "last_index": self.last_index,
            "missing": self.missing,
            "window": [t.index for t in self.window],
            "turns_processed": self.turns_processed,
            "episodes": self.episodes,
            "memory": {**self.stored_memory, **{name: m.to_dict() for name, m in self._memory.items()}},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        """A state from ``to_dict``'s single value."""
        return cls.from_parts(data, [TurnRecord.from_dict(t) for t in data.get("window", [])], stored_window=())

    @classmethod
    def from_parts(
        cls, head: dict[str, Any], window: list[TurnRecord], stored_window: tuple[int, ...] | None = None
    ) -> ConversationState:
        """A state from its head and the records of the turns the head lists."""
        return cls(
            conversation_id=head["conversation_id"],
            window_size=head.get("window_size", 24),
            last_index=head["last_index"],
            missing=list(head.get("missing", [])),
            window=window,
            turns_processed=head.get("turns_processed", 0),
            # Deep copies: the episode book and memories are changed in place while a turn is
            # processed, and the stored value must stay as it was until the new state is written.
            episodes=plain_copy(head.get("episodes", {})),
            stored_memory=plain_copy(head.get("memory", {})),
            stored_window=tuple(t.index for t in window) if stored_window is None else stored_window,
        )
