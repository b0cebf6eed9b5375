"""Computes every turn's typed features in one batched pass per micro-batch.

Encoder + emotion head + crisis risk head + counselling head + lexical cues. Patient turns get
emotions, cues, crisis signals and distress; therapist turns get their codes (from the
same encoder pass: sentence states are pooled, not encoded again) and the reasoning echo;
both get the turn embedding; system turns nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from detectors.crisis.sentence_head import CrisisRiskModel, assess_turns, candidate_sentences, candidate_spans
from detectors.crisis.signals import CrisisSignals
from detectors.cues import find_cues
from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.features import PREVIOUS_PATIENT_TEXT, Cues, Distress, Embedding, Emotions, TurnFeatures
from detectors.text import longest_shared_phrase
from detectors.therapist.codes import CodesModel, answer_spans, assess_answers, sentence_embeddings

NEGATIVE_EMOTIONS = {
    "sadness": 1.0,
    "fear": 1.0,
    "nervousness": 0.9,
    "grief": 1.0,
    "remorse": 0.6,
    "disappointment": 0.6,
    "embarrassment": 0.5,
    "anger": 0.5,
    "annoyance": 0.3,
    "disgust": 0.4,
}
POSITIVE_EMOTIONS = (
    "joy",
    "optimism",
    "relief",
    "gratitude",
    "pride",
    "love",
    "admiration",
    "amusement",
    "excitement",
    "approval",
)
REASONING_ECHO_WORDS = 8  # this many words copied from the hidden reasoning into the answer is a leak
CUE_WEIGHT = 0.3
CRISIS_FLOOR = 0.9
HEDGE_DAMPING = 0.88
MAX_HEDGES = 4
HEDGES = re.compile(
    r"\b(i guess|maybe|a bit|a little|kind of|sort of|i suppose|perhaps|when i think about it|i think)\b"
)


def noisy_or(values: Sequence[float]) -> float:
    return float(1.0 - np.prod([1.0 - v for v in values])) if values else 0.0


def distress_score(emotions: Emotions, cues: Cues, crisis: CrisisSignals, text: str | None = None) -> float:
    """How distressed the patient sounds in one turn, in [0, 1].

    Negative emotions combine as a noisy-or, damped by positive ones; each cue family adds
    weight; tentative, reflective wording ("I guess", "maybe", "a bit") lowers it; a paged
    crisis sets a floor.
    """
    negative = noisy_or([w * emotions.get(label) for label, w in NEGATIVE_EMOTIONS.items()])
    positive = noisy_or([emotions.get(label) for label in POSITIVE_EMOTIONS])
    score = noisy_or([negative * (1.0 - 0.6 * positive)] + [CUE_WEIGHT] * len(cues))
    hedges = len(HEDGES.findall((text or "").lower().replace("’", "'")))
    score *= HEDGE_DAMPING ** min(hedges, MAX_HEDGES)
    if crisis.paged:
        score = max(score, CRISIS_FLOOR)
    if text is not None and not text.strip() and not cues:
        return 0.0  # an empty turn says nothing about distress (the emotion head still answers)
    return round(min(1.0, score), 4)


class TurnFeatureExtractor:
    """Encoder + emotion head + crisis risk head + counselling head + lexical analysis, batched."""

    name = "turn-features"

    def __init__(
        self,
        encoder: Encoder,
        emotion_head: EmotionHead,
        crisis_model: CrisisRiskModel,
        counselling_model: CodesModel | None = None,
    ) -> None:
        self.encoder = encoder
        self.emotion_head = emotion_head
        self.crisis_model = crisis_model
        self.counselling_model = counselling_model

    def extract(
        self, texts: Sequence[str], roles: Sequence[str], metas: Sequence[dict[str, Any]]
    ) -> list[TurnFeatures]:
        judged = [i for i, role in enumerate(roles) if role != "system"]
        features = [TurnFeatures() for _ in texts]
        for i in judged:
            reasoning = metas[i].get("therapist_reasoning") if roles[i] == "therapist" else None
            if isinstance(reasoning, str) and (
                echo := longest_shared_phrase(texts[i], reasoning, 16, REASONING_ECHO_WORDS)
            ):
                features[i].reasoning_echo = echo
        if not judged:
            return features
        judge_answers = self.counselling_model is not None
        spans = [answer_spans(texts[i]) if judge_answers and roles[i] == "therapist" else [] for i in judged]
        patient_turns = [i for i in judged if roles[i] == "patient"]
        candidates = [candidate_spans(texts[i]) for i in patient_turns]
        # The crisis head's candidate sentences are encoded alone, in the same call as the turns.
        sentences = sorted(candidate_sentences(candidates) - {texts[i] for i in judged})
        encoded, pooled = self.encoder.encode_with_spans(
            [texts[i] for i in judged] + sentences, spans + [[] for _ in sentences]
        )
        vectors, pooled = encoded[: len(judged)], pooled[: len(judged)]
        sentence_vectors = dict(zip(sentences, encoded[len(judged) :]))
        answers = [k for k, found in enumerate(spans) if found]
        if answers:
            answer_texts = [texts[judged[k]] for k in answers]
            embeddings = sentence_embeddings(
                answer_texts, [spans[k] for k in answers], [pooled[k] for k in answers], self.encoder.encode
            )
            patients = [str(metas[judged[k]].get(PREVIOUS_PATIENT_TEXT, "")) for k in answers]
            codes = assess_answers(
                self.counselling_model, answer_texts, embeddings, [spans[k] for k in answers], patients
            )
            for k, found in zip(answers, codes):
                features[judged[k]].codes = found
        probabilities = self.emotion_head.probabilities(vectors)
        patients = [(i, vector) for i, vector in zip(judged, vectors) if roles[i] == "patient"]
        crisis = assess_turns(
            self.crisis_model,
            [texts[i] for i, _ in patients],
            self.encoder.encode,
            known={**sentence_vectors, **{texts[i]: vector for i, vector in zip(judged, vectors)}},
            spans=candidates,
        )
        crisis_of = {i: signals for (i, _), signals in zip(patients, crisis)}
        for i, vector, probs in zip(judged, vectors, probabilities):
            features[i].embedding = Embedding.of(vector)
            if roles[i] != "patient":
                continue
            emotions = Emotions(
                {label: round(float(p), 3) for label, p in zip(self.emotion_head.labels, probs) if p >= 0.05}
            )
            cues = Cues(find_cues(texts[i]))
            features[i].emotions, features[i].cues, features[i].crisis = emotions, cues, crisis_of[i]
            features[i].distress = Distress(distress_score(emotions, cues, crisis_of[i], texts[i]))
        return features
