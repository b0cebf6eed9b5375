"""The counselling-behaviour head: sentences read in context, behaviours per answer, and the
therapist rules scored on the blind labelled set."""

import os
from pathlib import Path

import numpy as np
import pytest

from detectors.counselling import (
    BEHAVIOURS,
    CounsellingModel,
    answer_spans,
    assess_answers,
    sentence_embeddings,
    unquoted,
)
from detectors.features import Behaviours, BehaviourSentence, TurnFeatures

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(scope="module")
def model():
    return CounsellingModel.load()


def behaviours_of(encoder, model, texts):
    spans = [answer_spans(t) for t in texts]
    _, pooled = encoder.encode_with_spans(texts, spans)
    return assess_answers(model, texts, sentence_embeddings(texts, spans, pooled, encoder.encode), spans)


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
    "behaviour, answers",
    [
        (
            "blaming_shaming",
            [
                "After everything this family gave you, you still can't be bothered to call. Typical.",
                "You chose to ignore every warning, so I'm not sure what you expected to happen.",
            ],
        ),
        ("warning", ["If you keep skipping your medication, you will end up back in hospital."]),
        ("moralising", ["A decent person keeps their promises, whatever it costs them."]),
        ("directing", ["Delete the app tonight and stop checking your phone after nine."]),
    ],
)
def test_inconsistent_behaviours_reach_their_bar(encoder, model, behaviour, answers):
    for found in behaviours_of(encoder, model, answers):
        assert behaviour in found.alerting, (behaviour, found)


@pytest.mark.parametrize(
    "answer",
    [
        "That sounds like such a heavy week, and it makes sense you're worn out.",
        "What felt hardest about talking to her?",
        "Would it be okay if I shared a couple of ideas that some people find useful?",
        "It took real courage to tell your sister the truth.",
        "You might consider writing down what you want to say before the call.",
    ],
)
def test_consistent_answers_raise_no_inconsistent_behaviour(encoder, model, answer):
    (found,) = behaviours_of(encoder, model, [answer])
    assert not set(found.alerting) & {
        "blaming_shaming",
        "warning",
        "moralising",
        "confronting",
        "minimising",
        "directing",
    }, found


def test_behaviours_round_trip_through_the_state_form():
    features = TurnFeatures(behaviours=Behaviours({"empathy": BehaviourSentence(0, 12, 0.8)}, 2, ("directing",)))
    again = TurnFeatures.from_dict(features.to_dict())
    assert again.behaviours == features.behaviours
    assert again.behaviours.strongest(("empathy", "reflection")) == ("empathy", 0.8)


def test_head_metadata_matches_the_code(model):
    assert len(model.members) >= 1 and model.temperature > 0
    assert set(model.bars) == set(BEHAVIOURS)


def _need_data():
    if not DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DATA} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{DATA} not present")


def test_every_real_label_still_points_at_its_sentence():
    _need_data()
    from streams.tooling.training.counselling import load_labelled

    rows = load_labelled(DATA)
    assert sum(r.source == "counsel-chat" for r in rows) >= 1500
    assert len({r.label for r in rows}) == len(BEHAVIOURS)


def test_therapist_rules_on_the_blind_set():
    """Whole pipeline on the blind written set (never trained on): the shaming rule's precision
    and recall, in role-play too, and false alerts on answers that are good counselling."""
    from streams.runtime.build import build_pipeline
    from streams.settings import Settings
    from streams.tooling.behaviour_eval import evaluate_behaviours

    report = evaluate_behaviours(build_pipeline(Settings(encoder_backend="onnx")))
    harsh = report["rules"]["therapist.harsh_or_shaming"]
    assert harsh["precision"] >= 0.75 and harsh["recall"] >= 0.4, harsh
    assert harsh["recall_in_roleplay"] >= 0.5, harsh
    advice = report["rules"]["therapist.advice_without_empathy"]
    assert advice["precision"] >= 0.75, advice
    assert report["any_alert_on_consistent_per_100"] <= 10, report["false_alerts_on_consistent_per_100"]
