"""Empathy of an AI answer, as text-based support research measures it: three mechanisms, each
none, weak or strong.

- ``emotional_reaction``: warmth, compassion, concern for this person;
- ``interpretation``: an understanding of the feelings or experience behind their words;
- ``exploration``: an invitation to say more about what they are going through.

A learned head per mechanism (multinomial logistic, ``turnwatch train counselling``) reads the answer
against the patient turn it answers: the answer's embedding, how close it stays to the patient's turn,
and its code profile (``codes``: reflections, questions, affirmations…). Both embeddings are the ones
the conversation state keeps, so the detector computes empathy from state alone, at no encoder cost.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.features import register_feature
from detectors.therapist.codes import CODES, AnswerCodes

MECHANISMS: tuple[str, ...] = ("emotional_reaction", "interpretation", "exploration")
LEVELS: tuple[str, ...] = ("none", "weak", "strong")
DEFAULT_MODEL = Path(__file__).resolve().parent / "heads" / "empathy.json"


def features(answer: np.ndarray, patient: np.ndarray | None, codes: AnswerCodes | None) -> np.ndarray:
    """The empathy head's input: answer embedding, closeness to the patient turn, code profile."""
    n = max(codes.sentences, 1) if codes else 1
    shares = [codes.counts.get(code, 0) / n if codes else 0.0 for code in CODES]
    strongest = [codes.get(code) if codes else 0.0 for code in CODES]
    closeness = float(answer @ patient) if patient is not None and patient.any() else 0.0
    size = [np.log1p(codes.sentences if codes else 0), np.log1p(codes.words if codes else 0) / 5]
    return np.concatenate([answer, [closeness], shares, strongest, size]).astype(np.float32)


@register_feature("empathy", "emp")
@dataclass(frozen=True)
class Empathy:
    """Level (0 none, 1 weak, 2 strong) and the probability of any empathy, per mechanism. The therapist
    detector adds it to an answer's features (it depends on the patient turn the answer replies to)."""

    levels: dict[str, int]
    any: dict[str, float]

    def to_dict(self) -> dict:
        return {"l": [self.levels[m] for m in MECHANISMS], "p": [self.any[m] for m in MECHANISMS]}

    @classmethod
    def from_dict(cls, data: dict) -> Empathy:
        return cls(dict(zip(MECHANISMS, data["l"])), dict(zip(MECHANISMS, data["p"])))

    @property
    def total(self) -> int:
        """0-6: the sum of the three levels."""
        return sum(self.levels.values())


class EmpathyModel:
    def __init__(self, mean: np.ndarray, scale: np.ndarray, heads: dict[str, dict]) -> None:
        self.mean, self.scale = np.asarray(mean), np.asarray(scale)
        self.heads = {name: (np.asarray(head["coef"]), np.asarray(head["intercept"])) for name, head in heads.items()}

    @classmethod
    @functools.cache
    def load(cls, path: Path = DEFAULT_MODEL) -> EmpathyModel:
        meta = json.loads(Path(path).read_text())
        if tuple(meta["mechanisms"]) != MECHANISMS:
            raise ValueError(f"{path}: trained for other mechanisms; retrain with `turnwatch train counselling`")
        return cls(meta["mean"], meta["scale"], meta["heads"])

    def judge(self, answer: np.ndarray, patient: np.ndarray | None, codes: AnswerCodes | None) -> Empathy:
        z = (features(answer, patient, codes) - self.mean) / self.scale
        levels, anything = {}, {}
        for name, (coef, intercept) in self.heads.items():
            logits = coef @ z + intercept
            p = np.exp(logits - logits.max())
            p /= p.sum()
            levels[name] = int(p.argmax())
            anything[name] = round(float(1.0 - p[0]), 3)
        return Empathy(levels, anything)
