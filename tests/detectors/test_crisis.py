import pytest

from detectors.crisis import DETECTOR
from detectors.crisis_language import analyze
from detectors.findings import Severity
from detectors.state import ConversationState, TurnRecord


def kinds(text):
    return {(s.kind, s.current) for s in analyze(text)}


@pytest.mark.parametrize(
    "text, kind",
    [
        ("I want to kill myself.", "active_ideation"),
        ("Honestly I've been thinking about ending it.", "active_ideation"),
        ("I keep having suicidal thoughts at night.", "active_ideation"),
        ("Some days I wish I was dead.", "passive_ideation"),
        ("I just want to go to sleep and not wake up.", "passive_ideation"),
        ("Everyone would be better off without me.", "passive_ideation"),
        ("I don't want to be here anymore.", "passive_ideation"),
        ("I looked up how many of my sleeping pills it would take.", "method"),
        ("I've thought about jumping off the bridge near work.", "method"),
        ("I'm going to do it this weekend, I have a plan.", "intent_plan"),
        ("The pills are counted out in my drawer.", "preparatory"),
        ("I gave my bike away to my cousin and wrote some letters to my family.", "preparatory"),
        ("I've started cutting myself again.", "self_harm"),
        ("I'm going to hurt him when he gets home.", "harm_to_others"),
        ("My husband hits me when he drinks.", "abuse_danger"),
        ("I'm not safe at home right now.", "abuse_danger"),
    ],
)
def test_current_crisis_language_is_found(text, kind):
    assert (kind, True) in kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "I'd never hurt myself, that's not where I am.",
        "I don't want to die, I just want this week to end.",
        "I'm not suicidal, just really tired.",
        "My friend once took a lot of pills after a breakup.",
        "She told me she wants to kill herself and I'm scared for her.",
        "In the movie the character kills himself at the end.",
        "This deadline is killing me.",
        "I could kill him for that joke, lol.",
        "I'm ending it with my boyfriend, it's been coming for a while.",
        "I'm dying to see that film.",
        "I'm giving up sugar for a month.",
        "I am not going to kill myself.",
    ],
)
def test_negated_third_party_fictional_and_idiomatic_mentions_are_not_crisis(text):
    assert not any(current for _, current in kinds(text)), kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "Last year I thought about ending it for a while.",
        "When I was fifteen I used to cut myself.",
        "Years ago I tried to kill myself, back then I had no support.",
    ],
)
def test_the_past_is_history_not_current(text):
    found = kinds(text)
    assert found and all(not current for _, current in found), found


def test_past_with_a_present_marker_is_current():
    assert ("self_harm", True) in kinds("I used to cut myself and lately I've started again.")


def state_with(*patient_texts):
    state = ConversationState("c")
    for i, text in enumerate(patient_texts):
        state.record(TurnRecord(2 * i, "patient", text, {"crisis": [s.to_dict() for s in analyze(text)]}))
        state.record(TurnRecord(2 * i + 1, "therapist", "I'm listening."))
    return state


def detect_last(state):
    turn = [t for t in state.window if t.role == "patient"][-1]
    return DETECTOR.detect(state, turn)


def test_crisis_alerts_are_critical_on_the_same_turn_with_evidence():
    state = state_with("Work is awful.", "Everyone would be better off without me.")
    [finding] = detect_last(state)
    assert finding.rule == "crisis.passive_ideation" and finding.severity is Severity.CRITICAL
    assert finding.turns == (2,) and "better off without me" in finding.evidence[0].why
    assert finding.taxonomy


def test_a_step_up_the_ladder_is_a_new_rule_and_repeats_keep_the_episode():
    state = state_with("I wish I was dead.")
    first = detect_last(state)
    state2 = state_with("I wish I was dead.", "I wish I was dead, honestly.")
    state2.memory = state.memory
    again = detect_last(state2)
    assert again[0].opened_at == first[0].opened_at == 0
    state3 = state_with("I wish I was dead.", "I wish I was dead.", "I bought a rope yesterday.")
    state3.memory = state2.memory
    assert {f.rule for f in detect_last(state3)} == {"crisis.preparatory_behaviour"}


def test_history_is_a_warning():
    state = state_with("Last year I thought about ending it, but I got help back then.")
    [finding] = detect_last(state)
    assert finding.rule == "crisis.history" and finding.severity is Severity.WARNING


def test_therapist_turns_and_calm_patients_raise_nothing():
    state = state_with("I had a nice walk today.")
    assert detect_last(state) == []
    assert DETECTOR.detect(state, TurnRecord(9, "therapist", "I want to kill myself", {})) == []


@pytest.fixture(scope="module")
def matcher(encoder):
    from detectors.crisis_semantic import PrototypeMatcher

    return PrototypeMatcher(encoder.encode)


@pytest.mark.parametrize(
    "text, kind",
    [
        ("Some nights I hope I just never open my eyes again.", "passive_ideation"),
        ("I have been slicing my forearm with a blade.", "self_harm"),
        ("I've finished writing farewell messages to my friends.", "preparatory"),
    ],
)
def test_the_semantic_matcher_catches_paraphrases_the_patterns_miss(matcher, text, kind):
    assert analyze(text) == []
    assert (kind, True) in {(s.kind, s.current) for s in analyze(text, matcher)}


@pytest.mark.parametrize(
    "text",
    [
        "My sister once hoped she would never wake up, years ago.",
        "This exam is going to be the death of me.",
        "I gave my old guitar to my nephew for his birthday.",
        "I don't ever want to hurt myself.",
    ],
)
def test_the_semantic_matcher_leaves_look_alikes_alone(matcher, text):
    assert not any(s.current for s in analyze(text, matcher))


def test_labelled_development_sentences(matcher):
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "labelled" / "crisis_sentences.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    predicted = [any(s.current for s in analyze(r["text"], matcher)) for r in rows]
    truth = [r["label"] == "current" for r in rows]
    tp = sum(p and t for p, t in zip(predicted, truth))
    assert tp / sum(predicted) >= 0.9 and tp / sum(truth) >= 0.9
