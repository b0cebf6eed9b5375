"""Per-turn features, computed once per turn in batches and kept with the turn in state.

- ``emb``: the sentence embedding, int8-quantised and base64-encoded (≈ 0.5 KB a turn);
- ``emo``: emotion probabilities above 0.05 (patient turns), from the emotion head;
- ``cues``: distress cue families present (patient turns);
- ``distress``: the per-turn distress score in [0, 1] (patient turns);
- ``crisis``: crisis signals (patient turns);
- ``reasoning_echo``: words the answer copied from ``meta.therapist_reasoning`` (therapist turns).
"""

from __future__ import annotations

import base64
import re
from typing import Any, Sequence

import numpy as np

from detectors.crisis_language import analyze, semantic_candidates
from detectors.crisis_semantic import PrototypeMatcher
from detectors.cues import find_cues
from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.text import longest_shared_phrase

NEGATIVE_EMOTIONS = {
    "sadness": 1.0, "fear": 1.0, "nervousness": 0.9, "grief": 1.0, "remorse": 0.6, "disappointment": 0.6,
    "embarrassment": 0.5, "anger": 0.5, "annoyance": 0.3, "disgust": 0.4,
}
POSITIVE_EMOTIONS = ("joy", "optimism", "relief", "gratitude", "pride", "love", "admiration", "amusement", "excitement", "approval")
REASONING_ECHO_WORDS = 8  # this many words copied from the hidden reasoning into the answer is a leak
CUE_WEIGHT = 0.3
CRISIS_FLOOR = 0.9
HEDGE_DAMPING = 0.88
MAX_HEDGES = 4
HEDGES = re.compile(r"\b(i guess|maybe|a bit|a little|kind of|sort of|i suppose|perhaps|when i think about it|i think)\b")


def pack_embedding(vector: np.ndarray) -> str:
    """int8 per-vector scaled: direction is all the detectors use (unpack re-normalises)."""
    peak = float(np.abs(vector).max()) or 1.0
    return base64.b64encode(np.round(vector / peak * 127).astype(np.int8).tobytes()).decode()


def unpack_embedding(packed: str) -> np.ndarray:
    vector = np.frombuffer(base64.b64decode(packed), dtype=np.int8).astype(np.float32)
    norm = np.linalg.norm(vector)
    return vector / norm if norm else vector


def noisy_or(values: Sequence[float]) -> float:
    return float(1.0 - np.prod([1.0 - v for v in values])) if values else 0.0


def distress_score(emotions: dict[str, float], cues: dict[str, str], crisis: Sequence[dict], text: str = "") -> float:
    """How distressed the patient sounds in one turn, in [0, 1].

    Negative emotions combine as a noisy-or, damped by positive ones; each cue family adds
    weight; tentative, reflective wording ("I guess", "maybe", "a bit") lowers it; current
    crisis language sets a floor.
    """
    negative = noisy_or([w * emotions.get(label, 0.0) for label, w in NEGATIVE_EMOTIONS.items()])
    positive = noisy_or([emotions.get(label, 0.0) for label in POSITIVE_EMOTIONS])
    score = noisy_or([negative * (1.0 - 0.6 * positive)] + [CUE_WEIGHT] * len(cues))
    hedges = len(HEDGES.findall(text.lower().replace("’", "'")))
    score *= HEDGE_DAMPING ** min(hedges, MAX_HEDGES)
    if any(signal["current"] for signal in crisis):
        score = max(score, CRISIS_FLOOR)
    return round(min(1.0, score), 4)


class TurnFeatureExtractor:
    """Encoder + emotion head + lexical analysis, one batched pass per micro-batch."""

    name = "turn-features"

    def __init__(self, encoder: Encoder, emotion_head: EmotionHead) -> None:
        self.encoder = encoder
        self.emotion_head = emotion_head
        self.crisis_matcher = PrototypeMatcher(encoder.encode)

    def extract(self, texts: Sequence[str], roles: Sequence[str], metas: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        judged = [i for i, role in enumerate(roles) if role != "system"]
        features: list[dict[str, Any]] = [{} for _ in texts]
        for i in judged:
            reasoning = metas[i].get("therapist_reasoning") if roles[i] == "therapist" else None
            if isinstance(reasoning, str) and (echo := longest_shared_phrase(texts[i], reasoning, 16, REASONING_ECHO_WORDS)):
                features[i]["reasoning_echo"] = echo
        if not judged:
            return features
        vectors = self.encoder.encode([texts[i] for i in judged])
        probabilities = self.emotion_head.probabilities(vectors)
        # Crisis paraphrases: risk-vocabulary sentences of the whole batch, matched in one pass.
        candidates = sorted({s for i in judged if roles[i] == "patient" for s in semantic_candidates(texts[i])})
        matched = dict(zip(candidates, self.crisis_matcher(candidates)))
        for i, vector, probs in zip(judged, vectors, probabilities):
            features[i]["emb"] = pack_embedding(vector)
            if roles[i] != "patient":
                continue
            emotions = {label: round(float(p), 3) for label, p in zip(self.emotion_head.labels, probs) if p >= 0.05}
            cues = find_cues(texts[i])
            crisis = [s.to_dict() for s in analyze(texts[i], lambda found: [matched[s] for s in found])]
            features[i].update(emo=emotions, cues=cues, crisis=crisis, distress=distress_score(emotions, cues, crisis, texts[i]))
        return features
