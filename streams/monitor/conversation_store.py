"""Where the pipeline keeps conversations: a small head per conversation, a record per turn.

A conversation's head (its window's turn indices, detector memories, episode book) changes
with every turn; a turn's record (text and features) never changes once written. Kept
apart, a turn writes its own record once plus the head, instead of the whole window again:

    heads[conversation_id]           -> ConversationState.head_dict()
    turns[turn_key(conversation_id, i)] -> TurnRecord.to_dict()   for each i the head lists

Both mappings may be dicts (``turnwatch scan``) or the worker's Faust tables behind held
writes (``streams.monitor.held_writes``), which order the writes so that a head on the
changelog never lists a turn record that is not there. A head written before the split
(its window holds whole turn records) still loads; the next save splits it.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from detectors.state import ConversationState, TurnRecord

log = logging.getLogger(__name__)


def turn_key(conversation_id: str, index: int) -> str:
    return f"{conversation_id}#{index}"


def _is_whole_state(head: dict[str, Any]) -> bool:
    window = head.get("window") or []
    return bool(window) and isinstance(window[0], dict)


class ConversationStore:
    def __init__(
        self, heads: MutableMapping[str, Any] | None = None, turns: MutableMapping[str, Any] | None = None
    ) -> None:
        self.heads: MutableMapping[str, Any] = {} if heads is None else heads
        self.turns: MutableMapping[str, Any] = {} if turns is None else turns

    def head(self, conversation_id: str) -> dict[str, Any] | None:
        return self.heads.get(conversation_id)

    def already_processed(self, conversation_id: str, index: int) -> bool:
        head = self.head(conversation_id)
        return head is not None and index <= head["last_index"] and index not in head.get("missing", ())

    def last_patient_text(self, conversation_id: str) -> str:
        """The text of the conversation's latest stored patient turn ('' for none)."""
        head = self.head(conversation_id)
        if head is None:
            return ""
        if _is_whole_state(head):
            records = reversed(head["window"])
        else:
            records = (self.turns.get(turn_key(conversation_id, i)) or {} for i in reversed(head.get("window", [])))
        for record in records:
            if record.get("r") == "patient":
                return record.get("t", "")
        return ""

    def load(self, conversation_id: str, window_size: int) -> ConversationState:
        head = self.head(conversation_id)
        if head is None:
            return ConversationState(conversation_id, window_size=window_size)
        if _is_whole_state(head):
            return ConversationState.from_dict(head)
        listed = head.get("window", [])
        records = [self.turns.get(turn_key(conversation_id, i)) for i in listed]
        window = [TurnRecord.from_dict(record) for record in records if record is not None]
        if len(window) < len(listed):
            # Only a broken changelog gets here (writes are ordered so that it cannot); the detectors
            # still run on the turns there are rather than every later turn being dead-lettered.
            log.warning(
                "conversation %s: %d of its window's turn records are missing",
                conversation_id,
                len(listed) - len(window),
            )
        return ConversationState.from_parts(head, window)

    def save(self, state: ConversationState) -> None:
        """Write the turns the store does not hold yet, the head, then drop the turns it no longer lists."""
        conversation = state.conversation_id
        stored = set(state.stored_window)
        for turn in state.window:
            if turn.index not in stored:
                self.turns[turn_key(conversation, turn.index)] = turn.to_dict()
        self.heads[conversation] = state.head_dict()
        kept = {turn.index for turn in state.window}
        for index in state.stored_window:
            if index not in kept:
                del self.turns[turn_key(conversation, index)]
        state.stored_window = tuple(sorted(kept))

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self.heads
