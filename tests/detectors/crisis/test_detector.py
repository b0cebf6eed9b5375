"""Crisis risk: the calibrated head on every stance, the detector's page/review/history split,
and the measured quality on the blind labelled sentences (real and written)."""

import os
from pathlib import Path

import numpy as np
import pytest

from detectors.crisis import DETECTOR
from detectors.crisis.evidence import construct_pieces
from detectors.crisis.sentence_head import CLASSES, Thresholds, assess_turns, candidate_spans
from detectors.crisis.signals import CrisisDecision, CrisisSignals, RiskSentence
from detectors.features import TurnFeatures
from detectors.findings import Severity
from detectors.state import ConversationState, TurnRecord
from streams.monitor.episodes import EpisodeBook

DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.fixture(scope="module")
def judge(crisis_model, encoder):
    def run(*texts: str) -> list[CrisisSignals]:
        return assess_turns(crisis_model, list(texts), encoder.encode)

    return run


# The patient about themselves, now: every step of the ladder pages.
CURRENT = [
    ("I want to kill myself.", "active_ideation"),
    ("I keep having suicidal thoughts at night and they are getting louder.", "active_ideation"),
    ("Some days I wish I was dead.", "passive_ideation"),
    ("Everyone would be better off without me.", "passive_ideation"),
    ("I looked up how many of my sleeping pills it would take.", "method"),
    ("I've thought about jumping off the bridge near work.", "method"),
    ("I'm going to do it this weekend, I have a plan.", "intent_plan"),
    ("I've started cutting myself again.", "self_harm"),
    ("My husband hits me when he drinks.", "abuse_danger"),
]


@pytest.mark.parametrize("text, kind", CURRENT)
def test_current_first_person_risk_pages_with_its_step(judge, text, kind):
    (signals,) = judge(text)
    assert signals.decision is CrisisDecision.PAGE, signals
    assert kind in signals.paged_kinds


@pytest.mark.parametrize(
    "text",
    [
        "The pills are counted out in my drawer.",
        "Last week I took a whole bottle of pills, but I'm still here.",  # a recent attempt told in passing
        "Cutting is the only way out I have when it gets like this.",  # self-harm as the only way out
    ],
)
def test_indirect_disclosures_are_raised_on_the_same_turn(judge, text):
    (signals,) = judge(text)
    assert signals.decision in (CrisisDecision.PAGE, CrisisDecision.REVIEW), signals


# Look-alikes, one or more per stance: none of them may page.
NOT_A_PAGE = {
    "someone else": [
        "My friend once took a lot of pills after a breakup.",
        "She told me she wants to kill herself and I'm scared for her.",
    ],
    "you": ["Please don't kill yourself, you matter so much to us."],
    "people in general": ["People who self-harm deserve compassion, not judgement."],
    "denial": ["I'd never hurt myself, that's not where I am.", "I am not going to kill myself."],
    "hypothetical or question": ["What should I do if my son talks about suicide?"],
    "idiom": ["This deadline is killing me.", "I'm dying to see that film."],
    "positive": ["My life is going really well right now and I'm looking forward to the summer."],
    "quote or role-play": ["In the movie the character kills himself at the end."],
    "ordinary talk": ["I take my antidepressant every morning.", "I'm giving up sugar for a month."],
}


@pytest.mark.parametrize("stance, text", [(s, t) for s, texts in NOT_A_PAGE.items() for t in texts])
def test_other_stances_do_not_page(judge, stance, text):
    (signals,) = judge(text)
    assert signals.decision is not CrisisDecision.PAGE, (stance, signals)


@pytest.mark.parametrize("text", ["When I was fifteen I tried to overdose.", "Years ago I used to cut my arms."])
def test_distant_past_is_history_not_a_page(judge, text):
    (signals,) = judge(text)
    assert signals.decision is CrisisDecision.HISTORY, signals


def test_a_disclosure_inside_an_ordinary_turn_pages_on_that_turn(judge):
    (signals,) = judge(
        "Work has been busy and the commute is long. I've started cutting myself again. "
        "Anyway, my sister visits on Sunday."
    )
    assert signals.paged and signals.top is not None
    assert (
        "cutting"
        in "Work has been busy and the commute is long. I've started cutting myself again."[
            signals.top.start : signals.top.end
        ]
    )


def test_probabilities_are_a_distribution_and_steps_are_cumulative(judge):
    (signals,) = judge("I looked up how many of my sleeping pills it would take.")
    top = signals.top
    assert 0.0 <= top.history <= 1.0 and 0.0 <= top.current <= 1.0 and top.current + top.history <= 1.0 + 1e-6
    assert list(top.steps) == sorted(top.steps, reverse=True)  # P(step ≥ k) falls with k


def test_only_sentences_with_risk_words_are_scored():
    text = "We went for a walk. Honestly I don't see the point in living."
    assert [text[a:b] for a, b, _ in candidate_spans(text)] == ["Honestly I don't see the point in living."]


def test_a_risk_acronym_makes_a_sentence_a_candidate_only_as_written():
    # No other risk word in either sentence: only the lexicon's acronym for an overdose.
    assert candidate_spans("Honestly I just want to OD and be done.")
    assert not candidate_spans("Honestly the od part was done.")


def test_a_risk_acronym_counts_as_construct_evidence():
    channels = {piece.channel for piece in construct_pieces("I relapsed into NSSI again last night.")}
    assert "construct:direct_self_injury" in channels
    assert not construct_pieces("Um, er, I went there again last night.")


@pytest.mark.parametrize(
    "text",
    [
        "Honestly I just want to OD and be done.",
        "I've decided I'm going to OD tonight, I counted what I have.",
        "I want to unalive myself.",
        "I keep thinking about sewerslide.",
        "I keep thinking I should just ctb this weekend.",
        "My sh urges are really strong tonight.",
    ],
)
def test_shorthand_for_own_current_risk_pages(judge, text):
    (signals,) = judge(text)
    assert signals.decision is CrisisDecision.PAGE, signals


@pytest.mark.parametrize(
    "text",
    [
        "My friend keeps talking about unaliving herself and I'm scared for her.",
        "That creator always says unalive instead of the real word so the video stays up.",
        "I used to sh a lot in high school but I've been clean for two years now.",
    ],
)
def test_algospeak_about_others_or_the_past_does_not_page(judge, text):
    (signals,) = judge(text)
    assert signals.decision is not CrisisDecision.PAGE, signals


ATTEMPT_UNDER_WAY = [
    "I just took all of my sleeping pills, every single one.",
    "I've taken about 40 of my antidepressants and washed them down with wine.",
    "I took everything in the medicine cabinet.",
    "The noose is up and I'm just sitting under it.",
    "I'm sitting in the car in the closed garage with the engine on.",
    "i swallowed the whole bottle of my pills like ten minutes ago",
    "I'm on the ledge of my balcony right now.",
    "I drank the bleach from under the sink.",
]
SAME_WORDS_NO_RISK = [
    "I just downed a whole bottle of water after my run.",
    "I took a whole box of tissues to work because of my cold.",
    "I'm sitting in my car in the driveway finishing a podcast.",
    "I took everything out of the bathroom cabinet to clean it.",
    "I took my tablets with breakfast like the pharmacist said.",
    "I'm on the roof fixing the gutter, the view from up here is great.",
]


def test_an_attempt_under_way_reaches_a_human_and_mostly_pages(judge):
    decisions = [signals.decision for signals in judge(*ATTEMPT_UNDER_WAY)]
    assert CrisisDecision.NONE not in decisions, list(zip(ATTEMPT_UNDER_WAY, decisions))
    assert decisions.count(CrisisDecision.PAGE) >= len(ATTEMPT_UNDER_WAY) // 2, list(zip(ATTEMPT_UNDER_WAY, decisions))


def test_the_same_words_in_ordinary_life_do_not_page(judge):
    for text, signals in zip(SAME_WORDS_NO_RISK, judge(*SAME_WORDS_NO_RISK)):
        assert signals.decision is not CrisisDecision.PAGE, (text, signals)


def test_thresholds_are_validated_and_overridable(crisis_model):
    with pytest.raises(ValueError, match="review threshold"):
        Thresholds(page=0.5, review=0.7, history=0.5).validate()
    stricter = crisis_model.with_thresholds(page=0.999)
    assert stricter.thresholds.page == 0.999 and crisis_model.thresholds.page != 0.999


# --- the detector: decisions to findings (no model needed) ------------------------------------

SENTENCES_ONLY = DETECTOR.with_options(conversation=False)


def turn_with(signals: CrisisSignals, index: int = 0, text: str = "x" * 40) -> tuple[ConversationState, TurnRecord]:
    state = ConversationState("c")
    turn = TurnRecord(index, "patient", text, TurnFeatures(crisis=signals))
    state.record(turn)
    return state, turn


def sentence(kind: str, current: float, history: float = 0.0) -> RiskSentence:
    return RiskSentence(0, 20, kind, current, history)


def test_a_page_is_critical_per_step_on_the_same_turn():
    signals = CrisisSignals(
        CrisisDecision.PAGE, (sentence("intent_plan", 0.95), sentence("method", 0.9)), ("intent_plan", "method")
    )
    findings = SENTENCES_ONLY.detect(*turn_with(signals, index=3))
    assert {(f.rule, f.severity) for f in findings} == {
        ("crisis.intent_or_plan", Severity.CRITICAL),
        ("crisis.method", Severity.CRITICAL),
    }
    assert all(f.turns == (3,) and f.evidence[0].turn_index == 3 for f in findings)


@pytest.mark.parametrize("current, severity", [(0.6, Severity.HIGH), (0.3, Severity.WARNING)])
def test_below_the_paging_threshold_is_a_possible_crisis_for_review(current, severity):
    signals = CrisisSignals(CrisisDecision.REVIEW, (sentence("passive_ideation", current),))
    (finding,) = SENTENCES_ONLY.detect(*turn_with(signals))
    assert finding.rule == "crisis.possible" and finding.severity is severity


def test_possible_crisis_is_one_review_item_per_conversation_raised_again_when_more_likely():
    state = ConversationState("c")
    book = EpisodeBook("c", state.episodes)
    raised = []
    for index, p in ((0, 0.3), (2, 0.35), (4, 0.6)):
        signals = CrisisSignals(CrisisDecision.REVIEW, (sentence("passive_ideation", p),))
        turn = TurnRecord(index, "patient", "x" * 30, TurnFeatures(crisis=signals))
        state.record(turn)
        raised += [(book.admit(f), f.severity) for f in SENTENCES_ONLY.detect(state, turn)]
    first = raised[0][0]
    assert raised == [(first, Severity.WARNING), (None, Severity.WARNING), (first, Severity.HIGH)]


def test_a_review_quotes_the_sentence_that_is_not_more_likely_past():
    past_but_riskier = RiskSentence(0, 10, "self_harm", 0.45, 0.5)
    current = RiskSentence(12, 20, "passive_ideation", 0.35, 0.05)
    signals = CrisisSignals(CrisisDecision.REVIEW, (past_but_riskier, current))
    (finding,) = SENTENCES_ONLY.detect(*turn_with(signals, text="a" * 12 + "now now!"))
    assert finding.evidence[0].quote == "now now!" and "wish to be dead" in finding.evidence[0].why


def test_history_is_a_warning():
    signals = CrisisSignals(CrisisDecision.HISTORY, (sentence("self_harm", 0.05, 0.8),))
    (finding,) = SENTENCES_ONLY.detect(*turn_with(signals))
    assert finding.rule == "crisis.history" and finding.severity is Severity.WARNING


def test_no_decision_no_finding_and_therapist_turns_are_ignored():
    assert SENTENCES_ONLY.detect(*turn_with(CrisisSignals())) == []
    state = ConversationState("c")
    turn = TurnRecord(
        0,
        "therapist",
        "I want to die",
        TurnFeatures(
            crisis=CrisisSignals(CrisisDecision.PAGE, (sentence("active_ideation", 0.99),), ("active_ideation",))
        ),
    )
    state.record(turn)
    assert SENTENCES_ONLY.detect(state, turn) == []


def test_the_ladder_alerts_each_new_step_once():
    state = ConversationState("c")
    book = EpisodeBook("c", state.episodes)
    raised = []
    for index, kind in enumerate(["passive_ideation", "passive_ideation", "method", "passive_ideation"]):
        turn = TurnRecord(
            index,
            "patient",
            "x" * 30,
            TurnFeatures(crisis=CrisisSignals(CrisisDecision.PAGE, (sentence(kind, 0.97),), (kind,))),
        )
        state.record(turn)
        raised += [(f.rule, index) for f in SENTENCES_ONLY.detect(state, turn) if book.admit(f)]
    assert raised == [("crisis.passive_ideation", 0), ("crisis.method", 2)]


def test_a_lone_sentence_page_in_a_calm_conversation_waits_for_the_second_key():
    """With the conversation model on, a sentence just over the page line in a conversation that
    holds no other evidence goes to the review queue rather than paging."""
    signals = CrisisSignals(CrisisDecision.PAGE, (sentence("passive_ideation", 0.86),), ("passive_ideation",))
    assert [f.rule for f in SENTENCES_ONLY.detect(*turn_with(signals))] == ["crisis.passive_ideation"]
    state, turn = turn_with(signals)
    findings = DETECTOR.detect(state, turn)
    assert findings and all(f.severity is not Severity.CRITICAL for f in findings)
    assert {f.rule for f in findings} == {"crisis.possible"}
    # The turn shows the decision, so the therapist rules (missed_crisis) do not treat it as a page.
    assert turn.features.crisis.decision is CrisisDecision.REVIEW and not turn.features.crisis_paged


# --- measured on the blind labelled sentences --------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_blind_sentences_precision_and_recall(crisis_model, encoder, onnx_encoder, backend):
    """The blind split (real and written sentences, never used in training) at the paging threshold,
    with either encoder backend (the head was trained on torch embeddings)."""
    encoder = onnx_encoder if backend == "onnx" else encoder
    if not DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DATA} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{DATA} not present")
    from detectors.crisis.training import load_labelled

    blind = [r for r in load_labelled(DATA) if r.split == "blind"]
    texts = [r.text for r in blind]
    p = crisis_model.probabilities(encoder.encode(texts), texts)
    current = p[:, 2:].sum(axis=1)
    truth = np.array([CLASSES.index(r.target) >= 2 for r in blind])
    paged = current >= crisis_model.thresholds.page
    precision = (truth & paged).sum() / paged.sum()
    recall = (truth & paged).sum() / truth.sum()
    assert precision >= 0.8 and recall >= 0.45, (precision, recall)  # measured .91 / .50: the sentence key alone
    # Calibration: among sentences given P ≈ x, about x are current risk (expected calibration error).
    bins = np.clip((current * 10).astype(int), 0, 9)
    ece = sum(
        abs(truth[bins == b].mean() - current[bins == b].mean()) * (bins == b).mean()
        for b in range(10)
        if (bins == b).any()
    )
    assert ece <= 0.12, ece


def test_a_very_long_run_of_text_is_split_without_recursion():
    from detectors.crisis.language import sentence_spans

    text = "word " * 100_000
    spans = sentence_spans(text)
    assert spans[0][0] == 0 and spans[-1][1] == len(text.rstrip())
    assert all(b - a <= 300 for a, b in spans)
