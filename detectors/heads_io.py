"""Where trained heads live, and the small numpy MLP ensembles they are stored as."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HEADS_DIR = Path(__file__).resolve().parent / "heads"

Layers = Sequence[tuple[np.ndarray, np.ndarray]]


def member_logits(layers: Layers, inputs: np.ndarray) -> np.ndarray:
    x = inputs
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            x = np.maximum(x, 0.0)
    return x


_STACKED: dict[int, tuple[object, tuple[np.ndarray, ...]]] = {}


def mean_member_logits(members: Sequence[Layers], inputs: np.ndarray) -> np.ndarray:
    """The ensemble's mean logits. Members of one hidden layer are evaluated as one wider network:
    their first layers side by side, their second layers stacked and averaged, so two matrix
    products serve the whole ensemble (the same sum, five times fewer calls)."""
    # float64 throughout: on this project's machine (OpenBLAS, one thread) these small float32
    # products ran up to 10x slower than float64 ones (bench/README, Performance).
    inputs = np.asarray(inputs, dtype=np.float64)
    if any(len(layers) != 2 for layers in members):
        return np.mean([member_logits(layers, inputs) for layers in members], axis=0)
    cached = _STACKED.get(id(members))
    if cached is None or cached[0] is not members:
        n = len(members)
        w1 = np.concatenate([layers[0][0] for layers in members], axis=1).astype(np.float64)
        b1 = np.concatenate([layers[0][1] for layers in members]).astype(np.float64)
        w2 = np.concatenate([layers[1][0] for layers in members], axis=0).astype(np.float64) / n
        b2 = np.mean([layers[1][1] for layers in members], axis=0, dtype=np.float64)
        cached = _STACKED[id(members)] = (members, (w1, b1, w2, b2))
    w1, b1, w2, b2 = cached[1]
    return np.maximum(inputs @ w1 + b1, 0.0) @ w2 + b2


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def load_members(path: Path) -> tuple[list[list[tuple[np.ndarray, np.ndarray]]], float]:
    """The ensemble members' (weights, bias) layers and the calibration temperature in an ``.npz``."""
    data = np.load(path)
    members = [
        [
            (data[f"m{j}_w{i}"].astype(np.float32), data[f"m{j}_b{i}"].astype(np.float32))
            for i in range(int(data["n_layers"]))
        ]
        for j in range(int(data["n_members"]))
    ]
    return members, float(data["temperature"])


def save_members(path: Path, members: Sequence[Layers], temperature: float) -> None:
    arrays: dict[str, np.ndarray] = {
        "n_members": np.array(len(members)),
        "n_layers": np.array(len(members[0])),
        "temperature": np.array(temperature),
    }
    for j, layers in enumerate(members):
        for i, (w, b) in enumerate(layers):
            arrays[f"m{j}_w{i}"], arrays[f"m{j}_b{i}"] = w.astype(np.float32), b.astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_head(path: Path, classes: Sequence[str], flags: Sequence[str], head: str) -> tuple[list, float, dict]:
    """(members, temperature, metadata) of a head trained for exactly ``classes`` and ``flags``;
    ``head`` names the ``turnwatch train`` command that rebuilds it."""
    meta = json.loads(path.with_suffix(".json").read_text())
    if tuple(meta["classes"]) != tuple(classes) or tuple(meta["flags"]) != tuple(flags):
        raise ValueError(f"{path}: trained for other classes or flags; retrain with `turnwatch train {head}`")
    members, temperature = load_members(path)
    return members, temperature, meta
