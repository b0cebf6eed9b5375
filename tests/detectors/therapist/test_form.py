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
        # leaked markup and tokens of the model's output format
        ("<|im_end|>", Severity.HIGH),
        ("That sounds hard.<|im_end|>", Severity.HIGH),
        ("</s>", Severity.HIGH),
        ('```json\n{"reply": "I hear you"}\n```', Severity.HIGH),
        ("Thanks for telling me, I think the most useful thing to look at first is whether you and", Severity.WARNING),
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
        # typed chat: questions without their question mark, emoticons, lower case
        "how are you feeling about it now",
        "what would help most tonight",
        "that sounds rough :(",
        "I'm proud of you for trying ^_^",
        "makes sense <3",
        "sure, whenever you're ready :-)",
        "you did well today!!",
    ],
)
def test_leaves_complete_answers_alone(text):
    assert findings_for(text) == []


def test_only_therapist_turns_are_judged():
    assert findings_for("", role="patient") == []


WRITTEN_CUT_OFFS = [
    "I can hear how much this has been weighing on you, and I wonder whether the",
    "One thing that might help is to notice when the worry starts and then",
    "It sounds like part of you wants to call her, and part of you is afraid that",
    "Let's slow down for a moment. When you think about Monday, what",
    "You mentioned your sister earlier, and I'm curious how she",
    "Here's a grounding exercise you could try:\n\n1. Name five things you can see\n2.",
    "That makes a lot of sense given everything you've been through with your",
    "Before we go on, can I check how you're feeling about (",
    "A simple first step could be to write down, for each worry, whether it's",
    "I'm sorry the week went that way. Would it help to talk about the meeting, or",
]
CHAT_REPLIES = [
    "that sounds really hard",
    "how did that feel for you",
    "ok, take your time :)",
    "glad you told me 🙂",
    "I'm here",
    "what would you like to focus on today",
    "makes sense",
    "that's a big step, well done!",
    "mm, go on",
    "you don't have to decide tonight",
]


def test_rate_on_written_cut_offs_and_chat_replies():
    """Every written cut-off flagged, no complete chat reply flagged (the README reports the rates)."""
    assert all(findings_for(text) for text in WRITTEN_CUT_OFFS), [t for t in WRITTEN_CUT_OFFS if not findings_for(t)]
    assert not any(findings_for(text) for text in CHAT_REPLIES), [t for t in CHAT_REPLIES if findings_for(t)]
