"""``turnwatch train emotion``: the GoEmotions head on the frozen encoder.

Reads ``train/dev/test.tsv`` and ``labels.txt`` from DIR, embeds them (cached), trains an MLP
with torch on train, picks per-label thresholds on dev, reports macro-F1 on test and writes
``detectors/heads/emotion.npz`` plus ``emotion.json`` (metrics; numbers only, no text).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.emotion import DEFAULT_HEAD, EmotionHead
from detectors.encoder import Encoder
from detectors.training.embeddings import cached_embeddings

SEED = 13


@dataclass
class Split:
    texts: list[str]
    labels: np.ndarray  # (n, 28) multi-hot


def read_split(directory: Path, name: str, n_labels: int) -> Split:
    texts, labels = [], []
    with open(directory / f"{name}.tsv", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                raise ValueError(f"{directory / name}.tsv:{number}: expected text<TAB>labels")
            row = np.zeros(n_labels, dtype=np.float32)
            row[[int(x) for x in parts[1].split(",") if x]] = 1.0
            texts.append(parts[0])
            labels.append(row)
    return Split(texts, np.stack(labels))


def f1_per_label(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    tp = (truth * predicted).sum(0)
    fp = ((1 - truth) * predicted).sum(0)
    fn = (truth * (1 - predicted)).sum(0)
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1e-9), 0.0)


def best_thresholds(truth: np.ndarray, probs: np.ndarray) -> np.ndarray:
    grid = np.linspace(0.05, 0.9, 35)
    scores = np.stack([f1_per_label(truth, (probs >= t).astype(np.float32)) for t in grid])
    return grid[scores.argmax(0)].astype(np.float32)


def train_mlp(
    x: np.ndarray,
    y: np.ndarray,
    x_dev: np.ndarray,
    y_dev: np.ndarray,
    hidden: int = 256,
    epochs: int = 30,
    log: Callable[[str], None] = print,
) -> dict[str, np.ndarray]:
    import torch

    torch.manual_seed(SEED)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(hidden, y.shape[1])
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    positives = y.mean(0).clip(1e-3, None)
    loss_fn = torch.nn.BCEWithLogitsLoss(
        pos_weight=torch.tensor(np.sqrt((1 - positives) / positives), dtype=torch.float32)
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    xd = torch.from_numpy(x_dev)
    generator = torch.Generator().manual_seed(SEED)
    best, best_state = -1.0, None
    for epoch in range(epochs):
        model.train()
        for index in torch.randperm(len(xt), generator=generator).split(256):
            optimizer.zero_grad()
            loss_fn(model(xt[index]), yt[index]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            probs = torch.sigmoid(model(xd)).numpy()
        score = f1_per_label(y_dev, (probs >= best_thresholds(y_dev, probs)).astype(np.float32)).mean()
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
        if epoch % 10 == 0:
            log(f"epoch {epoch}: dev macro-F1 {score:.3f} (best {best:.3f})")
    model.load_state_dict(best_state)
    return {
        "w1": model[0].weight.detach().numpy().T.copy(),
        "b1": model[0].bias.detach().numpy().copy(),
        "w2": model[3].weight.detach().numpy().T.copy(),
        "b2": model[3].bias.detach().numpy().copy(),
    }


def train_emotion(
    data_dir: Path,
    out: Path = DEFAULT_HEAD,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    labels = [
        line.strip() for line in (data_dir / "labels.txt").read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    splits = {name: read_split(data_dir, name, len(labels)) for name in ("train", "dev", "test")}
    encoder = encoder or Encoder(batch_size=64)
    vectors = {}
    for name, split in splits.items():
        log(f"embedding {name} ({len(split.texts)} texts)…")
        vectors[name] = cached_embeddings(encoder, split.texts, cache_dir, f"goemotions-{name}")
    weights = train_mlp(vectors["train"], splits["train"].labels, vectors["dev"], splits["dev"].labels, log=log)
    head = EmotionHead(labels=tuple(labels), thresholds=np.zeros(len(labels), np.float32), **weights)
    # Round-trip through the stored precision before choosing thresholds.
    out.parent.mkdir(parents=True, exist_ok=True)
    head.save(out)
    head = EmotionHead.load(out)
    thresholds = best_thresholds(splits["dev"].labels, head.probabilities(vectors["dev"]))
    head = EmotionHead(head.labels, head.w1, head.b1, head.w2, head.b2, thresholds)
    head.save(out)
    test_f1 = f1_per_label(splits["test"].labels, head.predict(vectors["test"]).astype(np.float32))
    dev_f1 = f1_per_label(splits["dev"].labels, head.predict(vectors["dev"]).astype(np.float32))
    report = {
        "encoder": "all-MiniLM-L6-v2 (frozen, mean pooled)",
        "head": f"MLP 384-{weights['w1'].shape[1]}-{len(labels)}, sigmoid, per-label thresholds on dev",
        "dev_macro_f1": round(float(dev_f1.mean()), 4),
        "test_macro_f1": round(float(test_f1.mean()), 4),
        "test_f1_per_label": {label: round(float(f), 4) for label, f in zip(labels, test_f1)},
        "sizes": {name: len(split.texts) for name, split in splits.items()},
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"test macro-F1 {report['test_macro_f1']:.3f} (dev {report['dev_macro_f1']:.3f}); wrote {out}")
    return report
