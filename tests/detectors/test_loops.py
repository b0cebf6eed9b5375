import pytest

from detectors.findings import Severity
from detectors.loops import DETECTOR, longest_shared_phrase
from detectors.state import ConversationState


def converse(extractor, turns, detector=DETECTOR):
    """Run (role, text) turns through features + the loop detector; findings per turn."""
    from detectors.state import TurnRecord

    texts = [t for _, t in turns]
    roles = [r for r, _ in turns]
    features = extractor.extract(texts, roles, [{} for _ in turns])
    state = ConversationState("c")
    out = []
    for index, (role, text) in enumerate(turns):
        turn = TurnRecord(index, role, text, features[index])
        state.record(turn)
        out.append(detector.detect(state, turn))
    return out


def rules(findings):
    return {(f.rule, f.severity) for step in findings for f in step}


FEAR = [
    "I'll freeze in the meeting, forget my numbers, and my manager will think I'm incompetent.",
    "I keep seeing myself freezing in the meeting and my manager deciding I'm incompetent.",
    "What if I freeze in that meeting, lose my numbers, and my manager writes me off as incompetent?",
    "I just know I'll freeze in the meeting and my manager will see I'm incompetent.",
    "All I can picture is freezing in the meeting while my manager decides I'm incompetent.",
    "Freezing in the meeting, my manager thinking I'm incompetent, that's all my head shows me.",
]
REPLIES = [
    "What do you notice when that picture comes up?",
    "Where do you feel that in your body?",
    "What would a friend say about that thought?",
    "What evidence do you have for and against it?",
    "What happened the last time you presented?",
    "What would be a good-enough outcome?",
]


def interleave(patient, therapist):
    turns = []
    for p, t in zip(patient, therapist):
        turns += [("patient", p), ("therapist", t)]
    return turns


def test_patient_refrain_alerts_at_four_and_grows(extractor):
    found = converse(extractor, interleave(FEAR, REPLIES))
    assert ("loop.patient_refrain", Severity.INFO) in rules(found[:7])
    assert not any(f.rule == "loop.patient_refrain" for step in found[:6] for f in step)
    assert ("loop.patient_refrain", Severity.WARNING) in rules(found)
    first = next(f for step in found for f in step if f.rule == "loop.patient_refrain")
    assert first.turns == (0, 2, 4, 6) and first.evidence


def test_varied_patient_turns_are_not_a_loop(extractor):
    varied = [
        "Work was busy but I managed to leave on time on Tuesday.",
        "My sister visited and we cooked a curry together, which was fun.",
        "I'm thinking about taking up swimming again in the spring.",
        "The neighbours' dog barked all night so I slept badly.",
        "I finally sorted out my tax return, which felt like a relief.",
    ]
    assert not any(
        f.rule == "loop.patient_refrain" for step in converse(extractor, interleave(varied, REPLIES)) for f in step
    )


def test_short_acknowledgements_are_not_a_loop(extractor):
    turns = [
        ("patient", "Okay."),
        ("therapist", "I see."),
        ("patient", "Okay."),
        ("therapist", "I see."),
        ("patient", "Okay."),
        ("therapist", "I see."),
        ("patient", "Okay."),
        ("therapist", "I see."),
    ]
    assert rules(converse(extractor, turns)) == set()


def test_progress_ends_the_patient_run(extractor):
    patient = [*FEAR[:3], "That actually helped, I feel a bit calmer and I'll try the first slide tonight.", *FEAR[3:4]]
    found = converse(extractor, interleave(patient, REPLIES))
    assert not any(f.rule == "loop.patient_refrain" for step in found for f in step)


GROUNDING = [
    "Let's try grounding: breathe in for four, hold for four, breathe out for six, and notice your feet on the floor.",
    "Let's ground again: breathe in for four, hold, breathe out for six, and notice the sensation of your feet.",
    "Once more: breathe in slowly, hold, breathe out for six, noticing your feet on the ground.",
    "Breathe in for four, hold for four, breathe out for six; notice the sensations in your feet.",
    "Let's keep breathing in for four and out for six, noticing your feet on the floor.",
]
PUSHBACK = [
    "I tried that but I still see myself freezing in the meeting.",
    "It doesn't help, I still see myself freezing in the meeting.",
    "I did it and it doesn't help, I still picture freezing in the meeting.",
    "Still doesn't help, I keep seeing myself freeze in that meeting.",
    "It's not working, I still see myself freezing in the meeting.",
]


def test_therapist_template_and_cycle(extractor):
    turns = [("patient", FEAR[0])]
    for t, p in zip(GROUNDING, PUSHBACK):
        turns += [("therapist", t), ("patient", p)]
    found = rules(converse(extractor, turns))
    assert ("loop.therapist_template", Severity.WARNING) in found
    assert ("loop.therapist_template", Severity.HIGH) in found
    assert ("loop.cycle", Severity.WARNING) in found


def test_different_interventions_are_not_a_template(extractor):
    varied = [
        "What would you say to a friend who had this worry?",
        "Let's list what is in your control before the meeting.",
        "How did you sleep last night?",
        "Could you tell me about a presentation that went well?",
    ]
    found = converse(extractor, interleave(["I'm nervous about the meeting tomorrow, honestly."] * 4, varied))
    assert not any(f.rule in {"loop.therapist_template", "loop.cycle"} for step in found for f in step)


def test_run_lengths_are_options(extractor):
    eager = DETECTOR.with_options(patient_run=3)
    found = converse(extractor, interleave(FEAR[:3], REPLIES[:3]), detector=eager)
    assert ("loop.patient_refrain", Severity.INFO) in rules(found)
    with pytest.raises(ValueError, match="unknown loop option"):
        DETECTOR.with_options(patient_runs=3)
    with pytest.raises(ValueError, match="integer"):
        DETECTOR.with_options(patient_run=1)


def test_longest_shared_phrase():
    assert (
        longest_shared_phrase("I will freeze in the meeting today", "tomorrow I will freeze in the meeting")
        == "i will freeze in the meeting"
    )
    assert longest_shared_phrase("okay then", "okay then") == ""
