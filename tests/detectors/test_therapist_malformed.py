import pytest

from detectors.findings import Severity
from detectors.state import ConversationState, TurnRecord
from detectors.therapist import DETECTOR


def findings_for(text, role="therapist"):
    state = ConversationState("c")
    state.record(TurnRecord(0, "patient", "I had a hard week."))
    turn = TurnRecord(1, role, text)
    state.record(turn)
    return [f for f in DETECTOR.detect(state, turn) if f.rule == "therapist.malformed"]


@pytest.mark.parametrize(
    "text, severity",
    [
        ("", Severity.HIGH),
        ("   \n\t ", Severity.HIGH),
        ("[Answer not properly formatted or missing]", Severity.HIGH),
        ("[ERROR: upstream model timed out]", Severity.HIGH),
        ("<no response>", Severity.HIGH),
        ("N/A", Severity.HIGH),
        ("...", Severity.HIGH),
        ("Hi {{patient_name}}, how are you feeling today?", Severity.HIGH),
        ('{"response": "That sounds hard.", "confidence": 0.8}', Severity.HIGH),
        ("That sounds really hard. What would help you most right now, and how can we", Severity.WARNING),
        ("It makes sense to feel tired after a week like that. Maybe we could look at the", Severity.WARNING),
        ("Thank you for sharing that with me. Let's think about what you could try next,", Severity.WARNING),
        ("Here is a short exercise:\n\n```\nbreathe in 4", Severity.WARNING),
        ("I hear how exhausting this week was and I want to understand what made it so heavy for", Severity.WARNING),
        ("Here are three things you could try tonight:", Severity.WARNING),
        ("Some ideas:\n1. A short walk\n2.", Severity.WARNING),
        ('You said it felt like "everything is', Severity.WARNING),
    ],
)
def test_flags_answers_that_gave_the_patient_nothing(text, severity):
    found = findings_for(text)
    assert len(found) == 1
    assert found[0].severity is severity
    assert found[0].turns == (1,) and found[0].evidence[0].turn_index == 1


@pytest.mark.parametrize(
    "text",
    [
        "Okay.",
        "That sounds really hard. What would help you most right now?",
        "Here are a few ideas:\n\n- a short walk\n- a glass of water\n- an early night",
        "Let's try this:\n1. Breathe in for four\n2. Breathe out for six",
        "I'm here with you :)",
        "That's a lovely idea 🙂",
        "It sounds like you were carrying a lot. [pauses] What felt heaviest?",
        'You said something important there: "I can\'t keep up."',
        "## Next steps",
        "Thank you for telling me. Would you like to keep going, or take a break?",
        # complete thoughts without a final full stop: chat style and transcribed speech
        "I hear how exhausting this week was for you and I want to understand what made it so heavy for you",
        "That sounds like a lot to carry on your own right now",
        "ok that makes sense, take your time",
        "Thanks for telling me",
        "got it",
        "mm",
        "Note:",
    ],
)
def test_leaves_complete_answers_alone(text):
    assert findings_for(text) == []


def test_only_therapist_turns_are_judged():
    assert findings_for("", role="patient") == []
