"""Per-turn features: typed values computed once per turn and kept with the turn in state.

Detectors read them by attribute (``turn.features.distress.score``). Each feature is declared
once with ``register_feature`` (its name, a short changelog key and its codec), next to the
code that computes it; ``TurnFeatures`` holds whatever is declared:

- ``Embedding``: the sentence embedding, int8-quantised and base64-encoded (≈ 0.5 KB a turn);
- ``Emotions``: emotion probabilities above 0.05 (patient turns), from the emotion head;
- ``Cues``: distress cue families present (patient turns), each with the phrase that showed it;
- ``crisis``: calibrated crisis risk of the turn's sentences and the decision it led to
  (page, review, history or none; patient turns), declared in ``detectors.crisis.signals``;
- ``Distress``: the per-turn distress score in [0, 1] (patient turns);
- ``codes``: what a therapist answer does, sentence by sentence (MITI codes), declared in
  ``detectors.therapist.codes``;
- ``reasoning_echo``: words the answer copied from ``meta.therapist_reasoning`` (therapist turns).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
# The stream layer hands an extractor the text of the patient turn a therapist turn answers under this
# meta key (an answer is coded against what it answers); it is never part of the stored event.
PREVIOUS_PATIENT_TEXT = "turnwatch.previous_patient_text"


def pack_embedding(vector: np.ndarray) -> str:
    """int8 per-vector scaled: direction is all the detectors use (unpack re-normalises)."""
    peak = float(np.abs(vector).max()) or 1.0
    return base64.b64encode(np.round(vector / peak * 127).astype(np.int8).tobytes()).decode()


@lru_cache(maxsize=4096)
def unpack_embedding(packed: str) -> np.ndarray:
    """The unit vector (read-only: it is shared). Detectors compare a turn with the turns before it,
    so each stored turn's vector is wanted again at every later turn of its window."""
    vector = np.frombuffer(base64.b64decode(packed), dtype=np.int8).astype(np.float32)
    norm = np.linalg.norm(vector)
    unit = vector / norm if norm else vector
    unit.flags.writeable = False
    return unit


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


@dataclass(frozen=True)
class FeatureKind:
    """How one named feature travels in the state changelog: its short key and its codec."""

    name: str
    key: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


FEATURE_KINDS: dict[str, FeatureKind] = {}


def register_feature(
    name: str, key: str, encode: Callable[[Any], Any] | None = None, decode: Callable[[Any], Any] | None = None
) -> Callable[[type[T]], type[T]]:
    """Declare a per-turn feature: ``turn.features.<name>``, stored under ``key``.

    Used as a class decorator (the class's ``to_dict``/``from_dict`` are the codec unless
    ``encode``/``decode`` are given), or called with a codec for a plain value. A new feature is
    one declaration beside its code; ``TurnFeatures`` itself never changes.
    """

    def declare(kind: type[T]) -> type[T]:
        add_feature_kind(
            FeatureKind(name, key, encode or (lambda value: value.to_dict()), decode or kind.from_dict)  # type: ignore[attr-defined]
        )
        return kind

    return declare


def add_feature_kind(kind: FeatureKind) -> None:
    for other in FEATURE_KINDS.values():
        if other.name != kind.name and other.key == kind.key:
            raise ValueError(f"features {other.name!r} and {kind.name!r} share the changelog key {kind.key!r}")
    FEATURE_KINDS[kind.name] = kind


class TurnFeatures:
    """A turn's features by name (``turn.features.crisis``); a feature not computed is ``None``.

    Any registered feature can be set by keyword or attribute. Keys this process does not know
    (a newer version wrote them) are kept as they were and written back unchanged.
    """

    __slots__ = ("_unknown", "_values")

    def __init__(self, **values: Any) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_unknown", {})
        for name, value in values.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in FEATURE_KINDS:
            return self._values.get(name)
        raise AttributeError(f"no feature {name!r}; registered: {', '.join(sorted(FEATURE_KINDS))}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FEATURE_KINDS:
            raise AttributeError(f"no feature {name!r}; registered: {', '.join(sorted(FEATURE_KINDS))}")
        if value is None:
            self._values.pop(name, None)
        else:
            self._values[name] = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TurnFeatures) and (self._values, self._unknown) == (other._values, other._unknown)

    def __repr__(self) -> str:
        return f"TurnFeatures({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

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
        self._values.update(other._values)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self._unknown)
        for name, value in self._values.items():
            kind = FEATURE_KINDS[name]
            out[kind.key] = kind.encode(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnFeatures:
        by_key = {kind.key: kind for kind in FEATURE_KINDS.values()}
        features = cls()
        for key, stored in data.items():
            kind = by_key.get(key)
            if kind is None:
                features._unknown[key] = stored
            else:
                features._values[kind.name] = kind.decode(stored)
        return features


register_feature("embedding", "emb", encode=lambda e: e.packed, decode=Embedding)(Embedding)
register_feature("emotions", "emo", encode=lambda e: e.probabilities, decode=Emotions)(Emotions)
register_feature("cues", "cues", encode=lambda c: c.families, decode=Cues)(Cues)
register_feature("distress", "distress", encode=lambda d: d.score, decode=Distress)(Distress)
add_feature_kind(FeatureKind("reasoning_echo", "echo", str, str))
