"""Emotion head: 28 GoEmotions labels from a frozen sentence embedding.

A small MLP (384 → hidden → 28, sigmoid outputs) trained by ``turnwatch train emotion``; its
weights live in ``detectors/heads/emotion.npz`` with per-label thresholds chosen on the dev
split. Inference is numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.heads_io import HEADS_DIR

DEFAULT_HEAD = HEADS_DIR / "emotion.npz"


@dataclass(frozen=True)
class EmotionHead:
    labels: tuple[str, ...]
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    thresholds: np.ndarray

    @classmethod
    def load(cls, path: str | Path = DEFAULT_HEAD) -> EmotionHead:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                labels=tuple(str(x) for x in data["labels"]),
                w1=data["w1"].astype(np.float32),
                b1=data["b1"].astype(np.float32),
                w2=data["w2"].astype(np.float32),
                b2=data["b2"].astype(np.float32),
                thresholds=data["thresholds"].astype(np.float32),
            )

    def save(self, path: str | Path, **meta: np.ndarray) -> None:
        np.savez_compressed(
            path,
            labels=np.array(self.labels),
            w1=self.w1.astype(np.float16),
            b1=self.b1,
            w2=self.w2.astype(np.float16),
            b2=self.b2,
            thresholds=self.thresholds,
            **meta,
        )

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        hidden = np.maximum(embeddings @ self.w1 + self.b1, 0.0)
        logits = hidden @ self.w2 + self.b2
        return 1.0 / (1.0 + np.exp(-logits))

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        return self.probabilities(embeddings) >= self.thresholds

    def as_dict(self, probabilities: np.ndarray) -> dict[str, float]:
        return {label: round(float(p), 3) for label, p in zip(self.labels, probabilities)}
