"""Semantic crisis matching: nearest written example, in the encoder's embedding space."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from detectors.crisis_prototypes import PROTOTYPES

MIN_SIMILARITY = 0.48
MIN_MARGIN = 0.05


class PrototypeMatcher:
    """Labels a sentence with the kind of its nearest prototype, or None.

    A kind is returned only when the nearest risk prototype is at least ``MIN_SIMILARITY``
    close and beats the nearest look-alike (``none``) by ``MIN_MARGIN``.
    """

    def __init__(self, encode, prototypes: dict[str, Sequence[str]] = PROTOTYPES) -> None:
        self.encode = encode
        self.kinds = [kind for kind, texts in prototypes.items() for _ in texts]
        self.bank = encode([text for texts in prototypes.values() for text in texts])
        self.is_none = np.array([kind == "none" for kind in self.kinds])

    def __call__(self, sentences: Sequence[str]) -> list[str | None]:
        if not sentences:
            return []
        similarity = self.encode(list(sentences)) @ self.bank.T
        out: list[str | None] = []
        for row in similarity:
            risk = np.where(self.is_none, -1.0, row)
            best = int(risk.argmax())
            lookalike = float(row[self.is_none].max())
            if risk[best] >= MIN_SIMILARITY and risk[best] - lookalike >= MIN_MARGIN:
                out.append(self.kinds[best])
            else:
                out.append(None)
        return out
