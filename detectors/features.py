"""Per-turn features: typed values computed once per turn and kept with the turn in state.

Detectors read them by attribute (``turn.features.distress.score``). Every feature has a
compact dict form for the state changelog (``to_dict``/``from_dict``, short keys):

- ``Embedding``: the sentence embedding, int8-quantised and base64-encoded (≈ 0.5 KB a turn);
- ``Emotions``: emotion probabilities above 0.05 (patient turns), from the emotion head;
- ``Cues``: distress cue families present (patient turns), each with the phrase that showed it;
- ``CrisisSignals``: calibrated crisis risk of the turn's sentences and the decision it led to
  (page, review, history or none; patient turns);
- ``Distress``: the per-turn distress score in [0, 1] (patient turns);
- ``Behaviours``: what a therapist answer does (reflection, empathy, directing, blaming...),
  the strongest sentence and its probability for each behaviour, from the counselling head;
- ``reasoning_echo``: words the answer copied from ``meta.therapist_reasoning`` (therapist turns).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np


def pack_embedding(vector: np.ndarray) -> str:
    """int8 per-vector scaled: direction is all the detectors use (unpack re-normalises)."""
    peak = float(np.abs(vector).max()) or 1.0
    return base64.b64encode(np.round(vector / peak * 127).astype(np.int8).tobytes()).decode()


def unpack_embedding(packed: str) -> np.ndarray:
    vector = np.frombuffer(base64.b64decode(packed), dtype=np.int8).astype(np.float32)
    norm = np.linalg.norm(vector)
    return vector / norm if norm else vector


@dataclass(frozen=True)
class Embedding:
    packed: str

    @classmethod
    def of(cls, vector: np.ndarray) -> Embedding:
        return cls(pack_embedding(vector))

    def vector(self) -> np.ndarray:
        return unpack_embedding(self.packed)

    def cosine(self, other: Embedding) -> float:
        return float(self.vector() @ other.vector())


@dataclass(frozen=True)
class Emotions:
    probabilities: dict[str, float]

    def get(self, label: str) -> float:
        return self.probabilities.get(label, 0.0)

    def strongest(self, n: int) -> list[tuple[str, float]]:
        return sorted(self.probabilities.items(), key=lambda kv: -kv[1])[:n]


@dataclass(frozen=True)
class Cues:
    """Distress cue families present, each with the phrase that showed it."""

    families: dict[str, str]

    def __len__(self) -> int:
        return len(self.families)

    def names(self) -> list[str]:
        return sorted(self.families)


@dataclass(frozen=True)
class Distress:
    score: float


class CrisisDecision(StrEnum):
    """What the calibrated crisis risk of a turn asks for, most urgent first."""

    PAGE = "page"  # current first-person risk above the paging threshold: a human must look now
    REVIEW = "review"  # possible current risk, below the paging threshold: review queue
    HISTORY = "history"  # risk told as past: a lower flag
    NONE = "none"


@dataclass(frozen=True)
class RiskSentence:
    """One judged sentence: where it is in the turn and its calibrated probabilities.

    ``current`` is P(the patient describes their own risk, now or recently); ``history`` is
    P(their own risk, in the past); ``kind`` the most probable current kind; ``steps[k-1]`` is
    P(C-SSRS suicidal step ≥ k) for k = 1 (wish to be dead) … 5 (preparatory behaviour).
    """

    start: int
    end: int
    kind: str
    current: float
    history: float
    steps: tuple[float, ...] = ()

    def quote(self, text: str) -> str:
        return text[self.start : self.end]

    def to_dict(self) -> dict[str, Any]:
        return {
            "s": [self.start, self.end],
            "k": self.kind,
            "c": self.current,
            "h": self.history,
            "st": list(self.steps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskSentence:
        return cls(data["s"][0], data["s"][1], data["k"], data["c"], data["h"], tuple(data.get("st", ())))


@dataclass(frozen=True)
class CrisisSignals:
    decision: CrisisDecision = CrisisDecision.NONE
    sentences: tuple[RiskSentence, ...] = ()  # the turn's riskiest sentences, most current risk first
    paged_kinds: tuple[str, ...] = ()  # kinds of the sentences above the paging threshold

    @property
    def paged(self) -> bool:
        return self.decision is CrisisDecision.PAGE

    @property
    def raised(self) -> bool:
        """Any crisis concern at all (page, review or history)."""
        return self.decision is not CrisisDecision.NONE

    @property
    def top(self) -> RiskSentence | None:
        return self.sentences[0] if self.sentences else None

    def to_dict(self) -> dict[str, Any]:
        return {"d": self.decision.value, "s": [s.to_dict() for s in self.sentences], "p": list(self.paged_kinds)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrisisSignals:
        return cls(
            CrisisDecision(data["d"]),
            tuple(RiskSentence.from_dict(s) for s in data.get("s", ())),
            tuple(data.get("p", ())),
        )


@dataclass(frozen=True)
class BehaviourSentence:
    start: int
    end: int
    p: float

    def quote(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Behaviours:
    """For each behaviour seen in a therapist answer, its strongest sentence (``detectors.counselling``)."""

    best: dict[str, BehaviourSentence]
    sentences: int = 0
    alerting: tuple[str, ...] = ()  # behaviours whose strongest sentence reached the head's calibrated bar

    def get(self, behaviour: str) -> float:
        found = self.best.get(behaviour)
        return found.p if found else 0.0

    def strongest(self, behaviours: tuple[str, ...]) -> tuple[str, float]:
        """The most probable of ``behaviours`` in any sentence, and its probability."""
        return max(((b, self.get(b)) for b in behaviours), key=lambda kv: kv[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.sentences,
            "b": {k: [v.p, v.start, v.end] for k, v in self.best.items()},
            "a": list(self.alerting),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Behaviours:
        return cls(
            {k: BehaviourSentence(v[1], v[2], v[0]) for k, v in data.get("b", {}).items()},
            data.get("n", 0),
            tuple(data.get("a", ())),
        )


@dataclass
class TurnFeatures:
    embedding: Embedding | None = None
    emotions: Emotions | None = None
    cues: Cues | None = None
    crisis: CrisisSignals | None = None
    distress: Distress | None = None
    behaviours: Behaviours | None = None
    reasoning_echo: str | None = None

    @property
    def distress_score(self) -> float:
        return self.distress.score if self.distress else 0.0

    @property
    def crisis_paged(self) -> bool:
        return bool(self.crisis and self.crisis.paged)

    @property
    def crisis_raised(self) -> bool:
        return bool(self.crisis and self.crisis.raised)

    def merge(self, other: TurnFeatures) -> None:
        for name in ("embedding", "emotions", "cues", "crisis", "distress", "behaviours", "reasoning_echo"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.embedding is not None:
            out["emb"] = self.embedding.packed
        if self.emotions is not None:
            out["emo"] = self.emotions.probabilities
        if self.cues is not None:
            out["cues"] = self.cues.families
        if self.crisis is not None:
            out["crisis"] = self.crisis.to_dict()
        if self.distress is not None:
            out["distress"] = self.distress.score
        if self.behaviours is not None:
            out["beh"] = self.behaviours.to_dict()
        if self.reasoning_echo is not None:
            out["echo"] = self.reasoning_echo
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnFeatures:
        return cls(
            embedding=Embedding(data["emb"]) if "emb" in data else None,
            emotions=Emotions(data["emo"]) if "emo" in data else None,
            cues=Cues(data["cues"]) if "cues" in data else None,
            crisis=CrisisSignals.from_dict(data["crisis"]) if "crisis" in data else None,
            distress=Distress(data["distress"]) if "distress" in data else None,
            behaviours=Behaviours.from_dict(data["beh"]) if "beh" in data else None,
            reasoning_echo=data.get("echo"),
        )
