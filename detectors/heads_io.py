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
