"""Embedding training data once, cached on disk by content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from detectors.encoder import Encoder

Progress = Callable[[int], None]


def cached_embeddings(
    encoder: Encoder, texts: Sequence[str], cache_dir: Path, name: str, progress: Progress = lambda n: None
) -> np.ndarray:
    digest = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{encoder.backend}-{digest}.npy"
    if path.exists():
        progress(len(texts))
        return np.load(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    chunks = []
    step = 512
    for start in range(0, len(texts), step):
        chunks.append(encoder.encode(texts[start : start + step]))
        progress(len(chunks[-1]))
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, 384), np.float32)
    np.save(path, vectors)
    return vectors
