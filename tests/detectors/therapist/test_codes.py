"""The MITI code head: sentences read in context and against the patient turn, codes per answer,
empathy per answer, per-code quality on the blind coded set, and the rules on the blind written set."""

import os
from pathlib import Path

import numpy as np
import pytest

from detectors.features import TurnFeatures
from detectors.therapist.codes import (
    CODES,
    MI_INCONSISTENT,
    AnswerCodes,
    CodedSentence,
    CodesModel,
    answer_spans,
    assess_answers,
    sentence_embeddings,
    unquoted,
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="module")
def model():
    return CodesModel.load()


def codes_of(encoder, model, texts, patient=""):
    spans = [answer_spans(t) for t in texts]
    _, pooled = encoder.encode_with_spans(texts, spans)
    embeddings = sentence_embeddings(texts, spans, pooled, encoder.encode)
    return assess_answers(model, texts, embeddings, spans, [patient] * len(texts))


def top_code(encoder, model, sentence, patient=""):
    (found,) = codes_of(encoder, model, [sentence], patient)
    return max(found.counts, key=found.counts.get)


def test_sentences_are_pooled_from_the_turn_pass(encoder):
    text = "That sounds exhausting. What would help most tonight?"
    spans = answer_spans(text)
    vectors, pooled = encoder.encode_with_spans([text], [spans])
    assert len(pooled[0]) == 2
    assert np.allclose(vectors[0], encoder.encode([text])[0], atol=1e-5)
    # in context, yet still mostly the sentence itself
    for (start, end), vector in zip(spans, pooled[0]):
        assert float(vector @ encoder.encode([text[start:end]])[0]) > 0.75
    # a span past the encoder's window has no pooled vector and is encoded alone instead
    long = "word " * 400 + "You did nothing wrong."
    tail = [(len(long) - 22, len(long))]
    _, pooled = encoder.encode_with_spans([long], [tail])
    assert pooled[0] == [None]
    assert sentence_embeddings([long], [tail], pooled, encoder.encode)[0].shape == (1, 384)


def test_quote_marks_around_a_line_said_in_character_are_not_part_of_it():
    text = "“You never finish anything, do you?”"
    assert [text[a:b] for a, b in answer_spans(text)] == ["You never finish anything, do you?"]
    assert unquoted('"ok"', 0, 4) == (1, 3)


@pytest.mark.parametrize(
    "code, answers",
    [
        ("shame", ["After everything this family gave you, you still can't be bothered to call. Typical."]),
        ("warn", ["If you keep skipping your medication, you will end up back in hospital."]),
        ("confront", ["You're overreacting a bit."]),
        ("persuade", ["Delete the app tonight and stop checking your phone after nine."]),
    ],
)
def test_inconsistent_codes_reach_their_bar(encoder, model, code, answers):
    for found in codes_of(encoder, model, answers):
        assert code in found.alerting, (code, found)


@pytest.mark.parametrize(
    "answer",
    [
        "That sounds like such a heavy week, and it makes sense you're worn out.",
        "What felt hardest about talking to her?",
        "Would it be okay if I shared a couple of ideas that some people find useful?",
        "It took real courage to tell your sister the truth.",
        "It's completely your call how you want to handle the visit.",
    ],
)
def test_consistent_answers_raise_no_inconsistent_code(encoder, model, answer):
    (found,) = codes_of(encoder, model, [answer])
    assert not set(found.alerting) & set(MI_INCONSISTENT), found


@pytest.mark.parametrize(
    "sentence, patient, expected",
    [
        ("What would a good evening look like for you?", "", ("open_question",)),
        ("Have you spoken to your doctor about the dose?", "", ("closed_question",)),
        (
            "It's clear how much you care about your kids, and that shows in how hard you're trying.",
            "",
            ("affirm", "complex_reflection"),
        ),
        ("You know yourself best, and it is your decision.", "", ("emphasize_autonomy", "affirm")),
        (
            "You feel anxious every time your phone buzzes.",
            "I get anxious every time my phone buzzes.",
            ("simple_reflection", "complex_reflection"),
        ),
        (
            "Part of you wants to leave, and part of you is scared of being on your own.",
            "I keep thinking about leaving him but then I panic.",
            ("complex_reflection",),
        ),
    ],
)
def test_consistent_codes_on_their_sentences(encoder, model, sentence, patient, expected):
    assert top_code(encoder, model, sentence, patient) in expected


def test_codes_round_trip_through_the_state_form():
    codes = AnswerCodes({"affirm": CodedSentence(0, 12, 0.8)}, 2, {"affirm": 1, "open_question": 1}, ("persuade",), 20)
    again = TurnFeatures.from_dict(TurnFeatures(codes=codes).to_dict())
    assert again.codes == codes
    assert again.codes.strongest(("affirm", "simple_reflection")) == ("affirm", 0.8)
    assert again.codes.count(("affirm", "open_question")) == 2


def test_head_metadata_matches_the_code(model):
    assert len(model.members) >= 1 and model.temperature > 0
    assert set(model.bars) == set(CODES)


def _need_data():
    if not DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DATA} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{DATA} not present")


def test_every_real_code_still_points_at_its_answer():
    _need_data()
    from detectors.therapist.training import load_labelled

    sentences, answers = load_labelled(DATA)
    assert sum(r.source == "counsel-chat" for r in sentences) >= 4000
    assert sum(a.source == "counsel-chat" for a in answers) == 480
    assert {r.label for r in sentences} == set(CODES)


def test_codes_and_empathy_on_the_blind_sets_as_measured():
    """The head's report on the blind splits (real counsel-chat answers never trained on, written replies)."""
    import json

    from detectors.therapist.codes import DEFAULT_HEAD

    report = json.loads(DEFAULT_HEAD.with_suffix(".json").read_text())
    real = report["blind"]["counsel-chat"]
    assert real["n"] >= 900 and real["accuracy"] >= 0.5, real
    assert (
        real["top_code"]["closed_question"]["precision"] >= 0.6 and real["top_code"]["closed_question"]["recall"] >= 0.7
    )
    assert real["top_code"]["giving_information"]["recall"] >= 0.6
    written = report["blind"]["written"]
    assert written["accuracy"] >= 0.6
    assert written["inconsistent_at_bar"]["shame"]["precision"] >= 0.75
    assert written["inconsistent_at_bar"]["persuade"]["precision"] >= 0.9
    empathy = json.loads((DEFAULT_HEAD.parent / "empathy.json").read_text())["report"]["blind"]
    # Measured: emotional reaction .69, interpretation .44, exploration .79 (three levels each).
    floors = {"emotional_reaction": 0.6, "interpretation": 0.4, "exploration": 0.7}
    for mechanism, floor in floors.items():
        assert empathy[mechanism]["counsel-chat"]["accuracy"] >= floor, (mechanism, empathy[mechanism])


def test_empathy_tells_a_warm_curious_answer_from_a_cold_one(encoder):
    from detectors.features import Embedding
    from detectors.therapist.empathy import EmpathyModel

    patient = "My dad died in March and I still can't sleep; I keep replaying the hospital."
    warm = (
        "I'm so sorry about your dad. It sounds like the hospital keeps pulling you back, as if part of you is "
        "still there with him. What comes up for you when you replay it at night?"
    )
    cold = "Sleep hygiene is important. Avoid screens after nine and keep a regular bedtime."
    model, head = CodesModel.load(), EmpathyModel.load()
    vectors = {t: Embedding.of(encoder.encode([t])[0]).vector() for t in (patient, warm, cold)}
    warm_codes, cold_codes = codes_of(encoder, model, [warm, cold], patient)
    kind = head.judge(vectors[warm], vectors[patient], warm_codes)
    flat = head.judge(vectors[cold], vectors[patient], cold_codes)
    assert kind.total >= 3 and flat.total <= 1, (kind, flat)
    assert kind.levels["exploration"] >= 1 and flat.levels["emotional_reaction"] == 0


def test_therapist_rules_on_the_blind_set():
    """Whole pipeline on the blind written set (never trained on): the shaming rule's precision
    and recall, in role-play too, and false alerts on answers that are good counselling."""
    from streams.monitor.build import build_pipeline
    from streams.settings import Settings
    from streams.tooling.behaviour_eval import evaluate_behaviours

    report = evaluate_behaviours(build_pipeline(Settings(encoder_backend="onnx")))
    harsh = report["rules"]["therapist.harsh_or_shaming"]
    # Measured at the shipped bar: precision .65, recall .27 (subtle blame such as "you brought this on
    # yourself" is mostly missed); the floors sit a little under so a worse head fails.
    assert harsh["precision"] >= 0.6 and harsh["recall"] >= 0.22, harsh
    assert harsh["recall_in_roleplay"] >= 0.2, harsh
    advice = report["rules"]["therapist.advice_without_empathy"]
    assert advice["precision"] >= 0.75, advice
    assert report["any_alert_on_consistent_per_100"] <= 10, report["false_alerts_on_consistent_per_100"]
