"""Fitting the small heads turnwatch ships: logistic or one-hidden-layer MLP ensembles on frozen
embeddings, temperature-calibrated, exported as numpy layers (``detectors.heads_io``)."""

from __future__ import annotations

import numpy as np

from detectors.heads_io import Layers, member_logits, softmax

SEED = 7
MEMBERS = 5  # an ensemble of heads from different seeds: smoother far from the training data


def fit_members(
    kind: str,
    strength: float,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    class_weight: str | None = "balanced",
    members: int = MEMBERS,
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """The ensemble's members (MLPs from ``members`` seeds; one logistic model), each as numpy layers
    over ``n_classes`` outputs."""
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return [
            layers_of(LogisticRegression(C=strength, max_iter=4000, class_weight=class_weight).fit(x, y), n_classes)
        ]
    from sklearn.neural_network import MLPClassifier

    return [
        layers_of(
            MLPClassifier(
                hidden_layer_sizes=(64,), alpha=strength, max_iter=600, early_stopping=False, random_state=SEED + j
            ).fit(x, y),
            n_classes,
        )
        for j in range(members)
    ]


def layers_of(model, n_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights as (W, b) per layer over all classes (classes absent from training get a -30 bias)."""
    if hasattr(model, "coefs_"):
        layers = [(w, b) for w, b in zip(model.coefs_, model.intercepts_)]
        last_w, last_b = layers[-1]
    else:
        layers, last_w, last_b = [], model.coef_.T, model.intercept_
    w = np.zeros((last_w.shape[0], n_classes), np.float32)
    b = np.full(n_classes, -30.0, np.float32)
    for column, label in enumerate(model.classes_):
        w[:, int(label)] = last_w[:, column]
        b[int(label)] = last_b[column]
    return [*layers[:-1], (w, b)] if layers else [(w, b)]


def ensemble_logits(members: list[Layers], x: np.ndarray) -> np.ndarray:
    return np.mean([member_logits(layers, x) for layers in members], axis=0)


def nll(z: np.ndarray, y: np.ndarray) -> float:
    p = softmax(z)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-9, 1.0))))


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 121))
    return float(min(grid, key=lambda t: nll(logits / t, y)))


def precision_recall(truth: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    tp = int((truth & flagged).sum())
    fp = int((~truth & flagged).sum())
    fn = int((truth & ~flagged).sum())
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def threshold_table(score: np.ndarray, truth: np.ndarray) -> list[dict[str, float]]:
    rows = []
    for t in np.round(np.arange(0.05, 0.991, 0.01), 2):
        pr = precision_recall(truth, score >= t)
        rows.append({"threshold": float(t), "precision": pr["precision"], "recall": pr["recall"]})
    return rows


def choose_model(
    candidates: list[tuple[str, float]],
    x: np.ndarray,
    y: np.ndarray,
    folds: list,
    n_classes: int,
    log=print,
    members: int = MEMBERS,
) -> tuple[tuple[str, float], np.ndarray, float, dict[tuple[str, float], float]]:
    """The candidate with the lowest cross-validated log-loss after temperature scaling:
    (candidate, its calibrated out-of-fold probabilities, its temperature, every candidate's loss)."""
    from joblib import Parallel, delayed

    def fold_logits(kind: str, strength: float, fit_idx: np.ndarray, test_idx: np.ndarray) -> np.ndarray:
        fitted = fit_members(kind, strength, x[fit_idx], y[fit_idx], n_classes, members=members)
        return ensemble_logits(fitted, x[test_idx])

    scores, out_of_fold = {}, {}
    for kind, strength in candidates:
        logits = np.zeros((len(y), n_classes), np.float32)
        # Folds in parallel, one per core: the results are the same as one after another.
        found = Parallel(n_jobs=-1)(delayed(fold_logits)(kind, strength, f, t) for f, t in folds)
        for (_, test_idx), fold in zip(folds, found):
            logits[test_idx] = fold
        temperature = fit_temperature(logits, y)
        scores[(kind, strength)] = nll(logits / temperature, y)
        out_of_fold[(kind, strength)] = (logits, temperature)
        log(
            f"  {kind:8s} {strength:<6g} cross-validated log-loss {scores[(kind, strength)]:.4f} (T = {temperature:.2f})"
        )
    best = min(scores, key=scores.get)
    logits, temperature = out_of_fold[best]
    return best, softmax(logits / temperature), temperature, scores
