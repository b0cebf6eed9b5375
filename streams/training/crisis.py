"""``turnwatch train crisis``: measure the crisis rules on SDCNL and fit a risk head.

SDCNL posts are all distressed; ``is_suicide`` = 1 for r/SuicideWatch. A fixed, seeded 20 %
hold-out is set aside first; the crisis rules (patterns alone, and patterns plus the
semantic matcher) are measured on it as they are (never tuned on this data), and a logistic head on the frozen encoder is fit on the other 80 % and
measured on the same hold-out. Only numbers are written: ``detectors/heads/crisis.npz`` and
``crisis.json``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Callable

import numpy as np

from detectors.crisis_language import analyze
from detectors.crisis_semantic import PrototypeMatcher
from detectors.encoder import Encoder
from detectors.heads_io import HEADS_DIR
from streams.training.embeddings import cached_embeddings

SEED = 7
HOLDOUT = 0.2
SUICIDAL_KINDS = {"passive_ideation", "active_ideation", "method", "intent_plan", "preparatory"}


def read_sdcnl(path: Path) -> tuple[list[str], np.ndarray]:
    csv.field_size_limit(10**8)
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            texts.append(f"{row['title']}\n{row['selftext']}".strip())
            labels.append(int(row["is_suicide"]))
    return texts, np.array(labels)


def split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SEED).permutation(n)
    cut = int(n * HOLDOUT)
    return order[cut:], order[:cut]


def precision_recall(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    fn = int((truth & ~predicted).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def rules_flag(text: str, semantic=None) -> bool:
    return any(s.current and s.kind in SUICIDAL_KINDS for s in analyze(text, semantic))


def train_crisis(data: Path, cache_dir: Path = Path(".turnwatch/cache"), encoder: Encoder | None = None,
                 log: Callable[[str], None] = print) -> dict:
    from sklearn.linear_model import LogisticRegression

    texts, labels = read_sdcnl(data)
    train, holdout = split_indices(len(texts))
    truth = labels[holdout].astype(bool)
    rules = np.array([rules_flag(texts[i]) for i in holdout])
    report = {"holdout_size": int(len(holdout)), "holdout_positive_rate": round(float(truth.mean()), 4),
              "rules_on_holdout": precision_recall(truth, rules)}
    log(f"rules on the hold-out: {report['rules_on_holdout']}")
    encoder = encoder or Encoder()
    matcher = PrototypeMatcher(encoder.encode)
    semantic = np.array([rules_flag(texts[i], matcher) for i in holdout])
    report["rules_and_semantic_on_holdout"] = precision_recall(truth, semantic)
    log(f"rules + semantic matcher on the hold-out: {report['rules_and_semantic_on_holdout']}")
    vectors = cached_embeddings(encoder, texts, cache_dir, "sdcnl")
    model = LogisticRegression(C=1.0, max_iter=2000).fit(vectors[train], labels[train])
    probs = model.predict_proba(vectors[holdout])[:, 1]
    report["head_on_holdout"] = precision_recall(truth, probs >= 0.5)
    report["head_on_holdout"]["auc"] = round(float(_auc(truth, probs)), 4)
    log(f"head on the hold-out: {report['head_on_holdout']}")
    HEADS_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(HEADS_DIR / "crisis.npz", w=model.coef_[0].astype(np.float32), b=np.float32(model.intercept_[0]))
    (HEADS_DIR / "crisis.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = truth.sum()
    negatives = len(truth) - positives
    return (ranks[truth].sum() - positives * (positives + 1) / 2) / max(positives * negatives, 1)
