"""Crisis language: algospeak and risk shorthand read in plain words; everything else left as it is."""

import pytest

from detectors.crisis.language import in_plain_words, literal_as_written


@pytest.mark.parametrize(
    "written, plain",
    [
        ("I want to unalive myself.", "I want to kill myself."),
        ("been thinking about unaliving myself", "been thinking about killing myself"),
        ("I wish I could just be unalive", "I wish I could just be dead"),
        ("I keep thinking about sewerslide", "I keep thinking about suicide"),
        ("I feel su1cidal again", "I feel suicidal again"),
        ("maybe I'll ctb this weekend", "maybe I'll suicide this weekend"),
        ("I relapsed on sh last night", "I relapsed on self-harm last night"),
        ("my sh scars itch", "my self-harm scars itch"),
        ("I sh'd again", "I self-harmed again"),
        ("I'm gonna OD tonight", "I'm gonna overdose tonight"),
        ("she OD'd last year", "she overdosed last year"),
    ],
)
def test_algospeak_and_shorthand_read_as_the_plain_words(written, plain):
    assert in_plain_words(written) == plain


@pytest.mark.parametrize(
    "sentence",
    [
        "This week was full of sh*t.",
        "I shed a few tears at the film.",
        "That's odd, Oded said the same.",
        "That movie was od funny.",
        "Shh, the baby is asleep.",
        "I'll catch the bus home.",
    ],
)
def test_ordinary_words_that_look_like_shorthand_are_left_alone(sentence):
    assert in_plain_words(sentence) is sentence


def test_the_lexicon_reads_a_sentence_as_written_without_its_figures_of_speech():
    literal = literal_as_written("I Beat Myself Up about the OD’s cost")
    assert "Beat" not in literal and literal.endswith("about the OD's cost")
