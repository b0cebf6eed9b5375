from contextlib import contextmanager

from detectors.registry import discover, select
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.held_writes import HeldWrites
from streams.monitor.pipeline import Pipeline
from tests.factories import NOW, turn


class RecordingTable(dict):
    """A table that remembers each write and which event was current when it was made."""

    def __init__(self, *args):
        super().__init__(*args)
        self.current = None
        self.writes = []

    def __setitem__(self, key, value):
        self.writes.append((key, value, self.current))
        super().__setitem__(key, value)


def held_over(table):
    @contextmanager
    def as_current(event):
        table.current = event
        try:
            yield
        finally:
            table.current = None

    return HeldWrites(table, as_current)


def test_reads_see_held_values_before_the_table_does():
    table = RecordingTable({"old": 1})
    writes = held_over(table)
    writes.event = "e1"
    writes["c1"] = "first"
    assert writes["c1"] == "first" and "c1" in writes and "c1" not in table
    assert writes["old"] == 1
    assert sorted(writes) == ["c1", "old"] and len(writes) == 2


def test_flush_writes_each_key_once_with_its_last_event_current():
    table = RecordingTable()
    writes = held_over(table)
    for event, key, value in [("e1", "c1", 1), ("e2", "c2", 1), ("e3", "c1", 2)]:
        writes.event = event
        writes[key] = value
    assert table.writes == []
    assert writes.flush() == 2
    assert sorted(table.writes) == [("c1", 2, "e3"), ("c2", 1, "e2")]
    assert writes.flush() == 0


def test_a_delete_waits_one_batch_and_a_value_held_then_deleted_is_never_written():
    table = RecordingTable({"gone": 0})
    writes = held_over(table)
    writes.event = "e1"
    writes["kept"] = 5
    writes["brief"] = 1
    del writes["gone"]
    del writes["brief"]
    writes.flush()
    assert writes.flush_deletes() == 0 and dict(table) == {"gone": 0, "kept": 5}  # its head is not on the broker yet
    assert writes.flush_deletes() == 1 and dict(table) == {"kept": 5}
    assert [key for key, _, _ in table.writes] == ["kept"]


def test_a_key_written_again_after_its_delete_is_kept():
    table = RecordingTable({"back": 0})
    writes = held_over(table)
    del writes["back"]
    writes["back"] = 2
    writes.flush()
    writes.flush_deletes()
    writes.flush_deletes()
    assert dict(table) == {"back": 2}


def test_pipeline_over_held_writes_matches_direct_writes():
    lines = {"patient": "Nothing I try ever changes anything at all, it is always the same.", "therapist": ""}
    raws = [
        turn(
            i, "patient" if i % 2 == 0 else "therapist", lines["patient" if i % 2 == 0 else "therapist"], conversation=c
        )
        for i in range(8)
        for c in ("a", "b")
    ]
    direct_pipeline = Pipeline(select(discover(), ["loop", "therapist"]), clock=lambda: NOW)
    held_pipeline = Pipeline(select(discover(), ["loop", "therapist"]), clock=lambda: NOW)
    direct = ConversationStore()
    direct_results = [direct_pipeline.step(direct, item) for item in direct_pipeline.prepare(raws)]
    table, turn_table = RecordingTable(), RecordingTable()
    heads, turns = held_over(table), held_over(turn_table)
    held_results = []
    for raw, item in zip(raws, held_pipeline.prepare(raws)):
        heads.event = turns.event = raw["event_id"]
        held_results.append(held_pipeline.step(ConversationStore(heads, turns), item))
    assert table.writes == [] and turn_table.writes == []
    turns.flush()
    heads.flush()
    assert sum(len(r.alerts) for r in held_results) > 0
    assert [(r.arrival, len(r.alerts)) for r in held_results] == [(r.arrival, len(r.alerts)) for r in direct_results]
    assert table == direct.heads and turn_table == direct.turns
    assert [(key, event) for key, _, event in table.writes] == [("a", "a:7"), ("b", "b:7")]
    assert ("a#3", "a:3") in [(key, event) for key, _, event in turn_table.writes]


def test_a_state_read_from_the_table_never_changes_the_stored_value():
    """A step that fails half-way must leave the stored state as it was (it is replayed)."""
    import json

    from detectors.loops import LoopMemory
    from detectors.state import ConversationState

    stored = ConversationState("c").to_dict()
    stored["episodes"] = {"loop.cycle": {"": [0, 2]}}
    stored["memory"] = {"loop": {"runs": {"patient": {"turns": [1], "phrase": "", "exchanges": 0}}, "cycle": None}}
    snapshot = json.loads(json.dumps(stored))
    state = ConversationState.from_dict(stored)
    state.episodes["loop.cycle"][""][1] = 4
    state.memory("loop", LoopMemory).runs["patient"].add(5)
    written = state.to_dict()
    assert stored == snapshot
    assert written["memory"]["loop"]["runs"]["patient"]["turns"] == [1, 5]
