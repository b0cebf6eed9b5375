"""A conversation stored as a head plus one record per turn: what a step writes, and what loads back."""

import hashlib
import json
import logging

from detectors.registry import discover, select
from detectors.state import ConversationState, TurnRecord
from streams.monitor import state_codec
from streams.monitor.conversation_store import ConversationStore, turn_key
from streams.monitor.pipeline import Pipeline
from tests.factories import NOW, turn

LINES = ["It is always the same, nothing I try ever changes anything.", "What have you tried so far this week?"]


def conversation(count, conversation_id="c"):
    return [
        turn(i, "patient" if i % 2 == 0 else "therapist", LINES[i % 2], conversation=conversation_id)
        for i in range(count)
    ]


def run(store, raws, window_size=6):
    pipeline = Pipeline(
        select(discover(), ["loop", "therapist", "distress"]), window_size=window_size, clock=lambda: NOW
    )
    return [pipeline.step(store, item) for item in pipeline.prepare(raws, store)]


class CountingDict(dict):
    def __init__(self):
        super().__init__()
        self.sets = []

    def __setitem__(self, key, value):
        self.sets.append(key)
        super().__setitem__(key, value)


def test_a_turn_writes_its_own_record_once_and_the_small_head():
    store = ConversationStore(CountingDict(), CountingDict())
    run(store, conversation(20))
    assert store.turns.sets == [turn_key("c", i) for i in range(20)]  # each record written once, none rewritten
    assert sorted(store.turns) == sorted(turn_key("c", i) for i in range(14, 20))  # the window's, nothing else
    head = store.head("c")
    assert head["window"] == list(range(14, 20)) and head["last_index"] == 19


def test_head_and_records_load_back_as_the_state_the_step_wrote():
    store = ConversationStore()
    run(store, conversation(9))
    state = store.load("c", 6)
    assert [t.index for t in state.window] == list(range(3, 9))
    assert state.to_dict() == ConversationState.from_parts(store.head("c"), state.window).to_dict()
    assert state.window[-1].text == LINES[0]
    assert store.last_patient_text("c") == LINES[0]


def test_split_and_whole_storage_raise_the_same_alerts():
    raws = conversation(30) + conversation(30, "d")
    split = run(ConversationStore(), raws)
    whole = WholeStateStore()
    joined = run(whole, raws)
    assert sum(len(r.alerts) for r in split) > 0
    assert [[a.alert_id for a in r.alerts] for r in split] == [[a.alert_id for a in r.alerts] for r in joined]


class WholeStateStore(ConversationStore):
    """The storage before the split: every save writes the whole state under the conversation id."""

    def save(self, state):
        self.heads[state.conversation_id] = state.to_dict()


def test_a_head_written_before_the_split_loads_and_the_next_save_splits_it():
    whole = WholeStateStore()
    run(whole, conversation(8))
    assert isinstance(whole.heads["c"]["window"][0], dict)
    store = ConversationStore(dict(whole.heads))
    assert store.last_patient_text("c") == LINES[0]
    run(store, [turn(8, "patient", LINES[0], conversation="c")])
    assert store.head("c")["window"] == list(range(3, 9))
    assert sorted(store.turns) == sorted(turn_key("c", i) for i in range(3, 9))


def test_a_missing_turn_record_is_reported_and_the_rest_still_load(caplog):
    store = ConversationStore()
    run(store, conversation(6))
    del store.turns[turn_key("c", 2)]
    with caplog.at_level(logging.WARNING):
        state = store.load("c", 6)
    assert [t.index for t in state.window] == [0, 1, 3, 4, 5]
    assert "1 of its window's turn records are missing" in caplog.text


def test_the_codec_shrinks_a_record_reads_plain_json_and_keeps_its_dictionary():
    record = TurnRecord(index=3, role="patient", text="I could not sleep again and work was hard.", ts=1.0).to_dict()
    head = ConversationState("c").head_dict()
    for value in (record, head):
        stored = state_codec.dumps(value)
        assert state_codec.loads(stored) == value
        assert len(stored) < len(json.dumps(value, separators=(",", ":")))
        assert state_codec.loads(json.dumps(value).encode()) == value  # written before the codec
    # Values on disk and on changelogs are read with this dictionary: editing it breaks them.
    digest = hashlib.sha256(state_codec.DICTIONARY_V1).hexdigest()
    assert digest == PINNED_DICTIONARY_DIGEST, "a released dictionary changed: add a new version byte instead"


PINNED_DICTIONARY_DIGEST = "a08f714a34f7e55f0c6633e643f3a70c8ec754c9664538603cf3a217620a8389"
