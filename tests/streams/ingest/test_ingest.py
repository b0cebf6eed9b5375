import itertools
import json
from collections import Counter

import pytest

from streams.contracts import parse_turn
from streams.errors import TranscriptFormatError
from streams.examples import EXAMPLES_DIR
from streams.ingest import parse_transcript, read_records
from streams.ingest.files import conversation_id_for, transcript_events
from tests.conftest import SEEDS
from tests.factories import turn


def events_of(path):
    return [parse_turn(r.value) for r in read_records([path])]


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_seed_transcripts_parse_to_the_right_turns_and_roles(shared_transcripts, name):
    events = events_of(shared_transcripts / name)
    assert Counter(e.role for e in events) == SEEDS[name]
    assert [e.turn_index for e in events] == list(range(len(events)))
    assert events[0].role == "patient"
    assert all(a.role != b.role for a, b in itertools.pairwise(events)), "speakers alternate"
    assert all(e.text.strip() for e in events[:-1])
    assert not any(e.text.startswith(("Patient:", "Therapist:")) for e in events)


def test_layout_2_header_gives_the_conversation_id(shared_transcripts):
    events = events_of(shared_transcripts / "004_d02cb9338fda1a3f.txt")
    assert {e.conversation_id for e in events} == {"T44"}
    assert events[-1].role == "therapist"
    assert events[-1].text == "[Answer not properly formatted or missing]"


def test_conversation_ids_and_event_ids_are_stable(shared_transcripts):
    path = shared_transcripts / "000_84769077cb1426a9.txt"
    first, second = events_of(path), events_of(path)
    assert [e.model_dump() for e in first] == [e.model_dump() for e in second]
    assert first[0].conversation_id == "000_84769077cb1426a9"
    assert len({e.event_id for e in first}) == len(first)


def test_plain_layout_keeps_paragraphs_and_bullets_in_one_turn():
    text = (
        "Patient: First paragraph of mine.\n\nSecond paragraph, still mine.\n\n"
        "Therapist: Here are some ideas:\n\n- take a short walk\n- drink some water\n\n"
        "1. write one line\n2. rest\n\nWhich feels doable?\n\n"
        "Patient: The walk.\n"
    )
    turns = parse_transcript(text).turns
    assert [t.role for t in turns] == ["patient", "therapist", "patient"]
    assert turns[0].text == "First paragraph of mine.\n\nSecond paragraph, still mine."
    assert "- take a short walk\n- drink some water" in turns[1].text
    assert turns[1].text.endswith("Which feels doable?")
    assert turns[2].text == "The walk."


def test_speaker_label_inside_a_line_is_not_a_new_turn():
    turns = parse_transcript("Patient: My note said Therapist: call me.\nTherapist: Okay.").turns
    assert [t.role for t in turns] == ["patient", "therapist"]


def test_text_before_the_first_label_is_an_error():
    with pytest.raises(TranscriptFormatError, match=r"line 1|:1:"):
        parse_transcript("Some preamble\nPatient: hi")


def test_empty_transcript_is_an_error():
    with pytest.raises(TranscriptFormatError, match="no turns"):
        parse_transcript("\n\n")


TURN_BLOCKS = """--- Turn 0 (Patient Initiation) ---
Patient: I can't sleep.

Second paragraph of the opening.

--- [SYSTEM INJECTION at Turn 1]: [System Note: patient becomes terse.] ---
--- Turn 1 ---
Therapist Thinking:
Reason about sleep hygiene.
Maybe ask about caffeine.
Therapist Answer:
That sounds hard.

**Some options:**
1. A wind-down routine
2. **No screens** after ten

Which appeals?
Patient: Neither.

Therapist Answer: is what I'd call that.

--- Turn 2 ---
Therapist Thinking:
The model failed here.
Therapist Answer:
[Answer not properly formatted or missing]
Patient: Hello?
"""


def test_turn_blocks_layout():
    turns = parse_transcript(TURN_BLOCKS).turns
    assert [t.role for t in turns] == ["patient", "therapist", "patient", "therapist", "patient"]
    assert turns[0].text == "I can't sleep.\n\nSecond paragraph of the opening."
    therapist = turns[1]
    assert therapist.meta["therapist_reasoning"] == "Reason about sleep hygiene.\nMaybe ask about caffeine."
    assert therapist.meta["injected_note"] == "[System Note: patient becomes terse.]"
    assert "Reason about" not in therapist.text and "System Note" not in therapist.text
    assert therapist.text.startswith("That sounds hard.") and therapist.text.endswith("Which appeals?")
    assert "2. **No screens** after ten" in therapist.text
    # The patient's text runs to the next block, even over a line that looks like a label.
    assert turns[2].text == "Neither.\n\nTherapist Answer: is what I'd call that."
    assert turns[3].text == "[Answer not properly formatted or missing]"
    assert turns[3].meta == {"therapist_reasoning": "The model failed here."}


def test_turn_block_without_an_answer_is_an_empty_therapist_turn():
    turns = parse_transcript("--- Turn 1 ---\nTherapist Thinking:\nonly thoughts\nPatient: hi\n").turns
    assert [(t.role, t.text) for t in turns] == [("therapist", ""), ("patient", "hi")]


def test_injection_at_the_end_becomes_a_system_turn():
    turns = parse_transcript(
        "--- Turn 0 ---\nPatient: hi\n--- [SYSTEM INJECTION at Turn 1]: [System Note: x] ---\n"
    ).turns
    assert turns[-1].role == "system" and turns[-1].meta["injected_note"] == "[System Note: x]"


def test_jsonl_lines_go_out_verbatim_even_when_invalid(tmp_path):
    path = tmp_path / "events.jsonl"
    good = turn(0, text="hi", event_id="e1", ts="2026-01-01T00:00:00+00:00")
    path.write_text(json.dumps(good) + "\n\nnot json\n")
    records = list(read_records([path]))
    assert [r.key for r in records] == ["c1", None]
    assert records[1].value == b"not json"
    assert parse_turn(records[0].value).conversation_id == "c1"


def test_directories_expand_to_transcripts_and_jsonl():
    records = list(read_records([EXAMPLES_DIR]))
    assert len({r.key for r in records if r.key}) == len(list(EXAMPLES_DIR.iterdir()))


def test_unsafe_file_names_become_valid_ids(tmp_path):
    path = tmp_path / "my chat (1).txt"
    path.write_text("Patient: hi\n\nTherapist: hello.\n")
    events = transcript_events(path)
    assert conversation_id_for(path, None) == "my-chat-1"
    assert parse_turn(events[0].to_json()).conversation_id == "my-chat-1"
