"""The conversation's crisis memory, without any model: what counts as new evidence, how it fades,
what a safety statement clears, and how the combining model explains a page."""

from detectors.crisis.conversation import (
    DECAY_PER_PATIENT_TURN,
    ConversationEvidence,
    ConversationModel,
    channel_vector,
)
from detectors.crisis.evidence import Piece, is_safety_statement, own_and_now, signature


def said(memory: ConversationEvidence, turn: int, text: str, *pieces: tuple[str, float], safety=False, ts=None):
    whole = (0, len(text))
    memory.add(turn, text, ts, [Piece(channel, value, *whole) for channel, value in pieces], safety)


def test_pieces_said_in_different_turns_are_all_held_with_their_turn_and_words():
    memory = ConversationEvidence()
    said(memory, 1, "Nothing is ever going to get better.", ("construct:hopelessness", 1.0))
    said(memory, 3, "They would be better off without me.", ("construct:burdensomeness", 1.0))
    said(memory, 5, "I still have the pills from last winter.", ("construct:lethal_means_for_suicide", 0.5))
    values = memory.values()
    assert {name: held.turn for name, (_, held) in values.items()} == {
        "construct:hopelessness": 1,
        "construct:burdensomeness": 3,
        "construct:lethal_means_for_suicide": 5,
    }
    assert values["construct:hopelessness"][0] == DECAY_PER_PATIENT_TURN**2  # two patient turns later
    assert values["construct:lethal_means_for_suicide"][1].quote == "I still have the pills from last winter."


def test_the_same_sentence_said_again_is_not_new_evidence():
    once, again = ConversationEvidence(), ConversationEvidence()
    sentence = "I just feel like a burden to everyone."
    said(once, 0, sentence, ("sentence", 0.4), ("construct:burdensomeness", 1.0))
    for turn in range(6):
        said(again, turn, sentence, ("sentence", 0.4), ("construct:burdensomeness", 1.0))
    channels = ("rank:1", "rank:2", "rank:3", "construct:burdensomeness")
    assert list(channel_vector(channels, again.values())) == list(channel_vector(channels, once.values()))
    assert len(again.distinct) == 1


def test_distinct_risk_sentences_are_ranked_and_fade_with_turns_and_time():
    memory = ConversationEvidence()
    said(memory, 0, "I keep thinking it would be easier to not wake up.", ("sentence", 0.5), ts=0.0)
    said(memory, 1, "Some nights I stand on the balcony for a long time.", ("sentence", 0.4), ts=3600.0)
    values = memory.values()
    first = 0.5 * DECAY_PER_PATIENT_TURN * 0.5 ** (1 / 24)  # one patient turn and one hour later
    assert abs(values["rank:1"][0] - first) < 1e-9 and values["rank:1"][1].turn == 0
    assert values["rank:2"][0] == 0.4 and values["rank:2"][1].turn == 1  # the newest: nothing faded yet
    assert "rank:3" not in values
    said(memory, 2, "I'm feeling okay today.", ts=3600.0 * 49)
    faded = memory.values()
    assert faded["rank:1"][0] < 0.1 and faded["rank:2"][0] < 0.1


def test_a_safety_statement_clears_what_was_gathered_and_new_risk_counts_again():
    memory = ConversationEvidence()
    said(memory, 0, "I don't see a future.", ("construct:hopelessness", 1.0), ("sentence", 0.3))
    said(memory, 1, "I'm safe, I would never hurt myself.", safety=True)
    assert memory.values() == {} and memory.reset_at == 1
    said(memory, 2, "But I did count my pills tonight.", ("sentence", 0.6))
    assert set(memory.values()) == {"rank:1"}


def test_memory_survives_the_changelog_round_trip():
    memory = ConversationEvidence()
    said(memory, 0, "It all feels pointless.", ("construct:hopelessness", 1.0), ("sentence", 0.2), ts=10.0)
    memory.paged_at = 0
    again = ConversationEvidence.from_dict(memory.to_dict())
    assert again.values() == memory.values() and again.paged_at == 0 and again.patient_turns == 1


def test_the_model_names_the_pieces_that_raise_the_risk():
    model = ConversationModel(
        channels=("rank:1", "construct:hopelessness", "construct:anxiety"),
        mean=(0.1, 0.1, 0.1),
        scale=(0.2, 0.3, 0.3),
        coef=(2.0, 1.0, -0.5),
        intercept=-3.0,
        page=0.6,
        review=0.3,
    )
    memory = ConversationEvidence()
    said(memory, 0, "I worry a lot.", ("construct:anxiety", 1.0))
    low = model.probability(memory.values())
    said(memory, 1, "Nothing will change, ever.", ("construct:hopelessness", 1.0), ("sentence", 0.5))
    high = model.probability(memory.values())
    assert high > low
    named = [c.channel for c in model.contributions(memory.values())]
    assert named == ["rank:1", "construct:hopelessness"]  # anxiety lowers the risk here: not evidence


def test_stance_gates_for_lexicon_evidence():
    assert own_and_now("I feel completely hopeless these days")
    assert not own_and_now("My sister says she feels hopeless")
    assert not own_and_now("Back in high school I felt hopeless")
    assert not own_and_now("What if I felt hopeless, would you know?")
    assert is_safety_statement("I'm safe tonight, I won't hurt myself.")
    assert not is_safety_statement("I'm not sure I'm safe.")
    assert signature("I am a burden.") == signature("a burden, I am")
