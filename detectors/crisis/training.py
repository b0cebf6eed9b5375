"""``turnwatch train crisis-risk``: fit and calibrate the sentence-level crisis risk head.

Data (``examples/labelled/``):
- ``crisis_real.jsonl``: real sentences from counsel-chat questions and SDCNL posts, labelled
  by hand, stored as references (``detectors.training.real_sentences``) and read from the data
  directory at training time;
- ``crisis_written.jsonl``: sentences written for turnwatch to cover every stance (first
  person, someone else, "you", people in general, denial, hypothetical or question, idiom,
  positive, quote or role-play) for every C-SSRS step, with history.
Each line has ``topic`` (the risk it is about), ``stance`` and ``when``; the target class is
the topic when the stance is first person and current, ``history`` when first person and past,
else ``none``. The ``blind`` split was fixed when the sets were made and is only scored, never
used for fitting, model choice or thresholds. Sentences from the posts and questions in the
seeded hold-outs (20 % of SDCNL rows, 25 % of counsel-chat questions: ``sdcnl_split``,
``counsel_chat_holdout``) are left out of training, so ``turnwatch eval --dataset`` on those
hold-outs measures text the head never saw.

Steps: embed (frozen encoder) + stance flags → 5-fold cross-validation on the train split over
a small grid (logistic, one-hidden-layer MLP) → temperature fitted on the out-of-fold logits →
thresholds from the out-of-fold probabilities → refit on all train → score the blind split.

Thresholds are chosen for real talk: on the cross-validated predictions for the real sentences
only (counsel-chat and SDCNL), since the written ones are deliberately hard look-alikes and
positives. The page threshold is the lowest with precision ≥ ``PAGE_PRECISION`` there, the
review threshold the lowest with precision ≥ ``REVIEW_PRECISION``. Writes ``detectors/heads/crisis_risk.npz``
(numbers only) and ``crisis_risk.json`` (metrics, thresholds, a precision/recall table).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.crisis.sentence_head import CLASSES, DEFAULT_HEAD, FLAG_NAMES, candidate_spans, sentence_features
from detectors.encoder import Encoder
from detectors.heads_io import save_members, softmax
from detectors.training.embeddings import cached_embeddings
from detectors.training.ensembles import (
    MEMBERS,
    SEED,
    choose_model,
    ensemble_logits,
    fit_members,
    precision_recall,
    threshold_table,
)
from detectors.training.real_sentences import SDCNL, RealText, sentence_digest

LABELLED = Path(__file__).resolve().parent / "labelled"
REAL_SET = LABELLED / "crisis_real.jsonl"
WRITTEN_SET = LABELLED / "crisis_written.jsonl"
SDCNL_HOLDOUT = 0.2
COUNSEL_CHAT_HOLDOUT = 0.25
PAGE_PRECISION = 0.9
REVIEW_PRECISION = 0.75
HISTORY_THRESHOLD = 0.5
VERSION = "crisis-risk/1"


@dataclass(frozen=True)
class Labelled:
    text: str
    target: str
    topic: str
    stance: str
    when: str
    source: str
    split: str
    ref: str = ""
    origin: str = "hand"  # "post": a sentence of a post judged free of the writer's own current risk


def target_class(topic: str, stance: str, when: str) -> str:
    if topic == "none" or stance != "first_person":
        return "none"
    return "history" if when == "past" else topic


def sdcnl_split(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train rows, 20 % hold-out rows) of SDCNL, the same for training and eval."""
    order = np.random.default_rng(SEED).permutation(n_rows)
    cut = int(n_rows * SDCNL_HOLDOUT)
    return np.sort(order[cut:]), np.sort(order[:cut])


def counsel_chat_holdout(question_ids: list[str]) -> set[str]:
    """Seeded 25 % of counsel-chat question ids, never trained on."""
    ids = sorted(set(question_ids), key=int)
    order = np.random.default_rng(SEED).permutation(len(ids))
    return {ids[i] for i in order[: int(len(ids) * COUNSEL_CHAT_HOLDOUT)]}


def held_out_refs(data_dir: Path) -> tuple[set[str], set[str]]:
    """Prefixes of real-sentence refs in the SDCNL and counsel-chat hold-outs."""
    _, sdcnl_rows_out = sdcnl_split(sdcnl_rows(data_dir))
    real = RealText(data_dir)
    questions = {key.split(":")[1] for key in real.fields if key.startswith("cc:")}
    return {f"sdcnl:{r}:" for r in sdcnl_rows_out}, {f"cc:{q}:" for q in counsel_chat_holdout(list(questions))}


def in_holdout(ref: str, sdcnl_out: set[str], cc_out: set[str]) -> bool:
    if not ref:
        return False
    prefix = ref[: ref.index(":", ref.index(":") + 1) + 1]
    return prefix in sdcnl_out or prefix in cc_out


def load_labelled(data_dir: Path) -> list[Labelled]:
    """Both labelled sets, real sentences resolved from ``data_dir``; refuses a changed sentence."""
    real = RealText(data_dir)
    rows: list[Labelled] = []
    for line in REAL_SET.read_text().splitlines():
        item = json.loads(line)
        text = real.resolve(item["ref"])
        if sentence_digest(text) != item["digest"]:
            raise ValueError(f"{REAL_SET.name}: {item['ref']} no longer matches its labelled sentence (data changed?)")
        rows.append(
            Labelled(
                text,
                target_class(item["topic"], item["stance"], item["when"]),
                item["topic"],
                item["stance"],
                item["when"],
                item["source"],
                item["split"],
                item["ref"],
            )
        )
    for line in WRITTEN_SET.read_text().splitlines():
        item = json.loads(line)
        rows.append(
            Labelled(
                item["text"],
                target_class(item["topic"], item["stance"], item["when"]),
                item["topic"],
                item["stance"],
                item["when"],
                "written",
                item["split"],
            )
        )
    return rows


POSTS_SET = LABELLED / "posts_real.jsonl"
NO_OWN_RISK = ("none", "supportive", "indicator")
POST_NEGATIVES = {"train": 800, "blind": 500}


def post_negatives(data_dir: Path) -> list[Labelled]:
    """Candidate sentences of posts labelled by hand as holding none of the writer's own current risk
    (none, supportive, indicator; no danger or harm flag): each is a real ``none``, and the hardest
    kind: risk words in distressed or supportive talk. A seeded sample per split."""
    real = RealText(data_dir)
    found: dict[str, list[Labelled]] = {"train": [], "blind": []}
    for line in POSTS_SET.read_text().splitlines():
        post = json.loads(line)
        if post["level"] not in NO_OWN_RISK or post["harm_to_others"] or post["danger_from_others"]:
            continue
        fields = ("t", "s") if post["ref"].startswith("sdcnl:") else ("t", "q")
        source = "sdcnl" if post["ref"].startswith("sdcnl:") else "counsel-chat"
        for field in fields:
            key = f"{post['ref']}:{field}"
            text = real.fields[key]
            for start, end, sentence in candidate_spans(text):
                found[post["split"]].append(
                    Labelled(
                        sentence,
                        "none",
                        "none",
                        "none",
                        "none",
                        source,
                        post["split"],
                        f"{key}:{start}-{end}",
                        origin="post",
                    )
                )
    rng = np.random.default_rng(SEED)
    out = []
    for split, rows in found.items():
        keep = sorted(rng.permutation(len(rows))[: POST_NEGATIVES[split]])
        out.extend(rows[i] for i in keep)
    return out


def sdcnl_rows(data_dir: Path) -> int:
    csv.field_size_limit(10**8)
    with open(data_dir / SDCNL, encoding="utf-8", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def inputs(vectors: np.ndarray, texts: list[str]) -> np.ndarray:
    return np.hstack([vectors, np.stack([sentence_features(t) for t in texts])]).astype(np.float32)


def choose_thresholds(table: list[dict[str, float]]) -> dict[str, float]:
    page = next((r["threshold"] for r in table if r["precision"] >= PAGE_PRECISION), 0.99)
    review = next((r["threshold"] for r in table if r["precision"] >= REVIEW_PRECISION), page)
    return {"page": page, "review": min(review, page), "history": HISTORY_THRESHOLD}


def train_crisis_risk(
    data_dir: Path,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    out: Path = DEFAULT_HEAD,
    log: Callable[[str], None] = print,
    extra: Sequence[Labelled] = (),
    model: tuple[str, float] | None = None,
    folds: int = 5,
    members: int = MEMBERS,
) -> dict:
    """``extra``: more training sentences (source "verdict": labelled by reviewers' verdicts; they train
    the head but set no threshold); ``model``: (kind, strength) instead of choosing among the candidates;
    ``folds``, ``members``: cross-validation folds and ensemble size (fewer for a trial run)."""
    from sklearn.model_selection import StratifiedKFold

    rows = load_labelled(data_dir) + post_negatives(data_dir)
    sdcnl_out, cc_out = held_out_refs(data_dir)
    held = [in_holdout(r.ref, sdcnl_out, cc_out) for r in rows]
    train = [r for r, h in zip(rows, held) if r.split == "train" and not h]
    blind = [r for r in rows if r.split == "blind"]
    log(
        f"{len(rows)} labelled sentences: {len(train)} train, {len(blind)} blind, "
        f"{sum(held)} left out (SDCNL and counsel-chat hold-outs); {len(extra)} more"
    )
    encoder = encoder or Encoder()
    vectors = cached_embeddings(encoder, [r.text for r in rows], cache_dir, "crisis-risk")
    index = {id(r): i for i, r in enumerate(rows)}
    x_train = inputs(vectors[[index[id(r)] for r in train]], [r.text for r in train])
    if extra:
        x_extra = inputs(encoder.encode([r.text for r in extra]), [r.text for r in extra])
        x_train, train = np.vstack([x_train, x_extra]), [*train, *extra]
    y_train = np.array([CLASSES.index(r.target) for r in train])
    x_blind = inputs(vectors[[index[id(r)] for r in blind]], [r.text for r in blind])
    y_blind = np.array([CLASSES.index(r.target) for r in blind])

    split = list(StratifiedKFold(folds, shuffle=True, random_state=SEED).split(x_train, y_train))
    candidates = [model] if model else [("logistic", c) for c in (1.0, 10.0)] + [("mlp", a) for a in (1e-2, 1e-1, 1.0)]
    best, oof, temperature, scores = choose_model(candidates, x_train, y_train, split, len(CLASSES), log, members)
    truth_train = y_train >= 2
    # Sentences from reviewers' verdicts train the head but set no threshold: they already fired.
    sources = np.array([r.source for r in train])
    counted = sources != "verdict"
    hand = np.array([r.origin == "hand" for r in train])
    oof_current = oof[:, 2:].sum(axis=1)
    tables = {
        name: threshold_table(oof_current[mask], truth_train[mask])
        for name, mask in (
            ("real", (sources != "written") & hand & counted),
            ("real_with_post_negatives", (sources != "written") & counted),
            ("counsel-chat", sources == "counsel-chat"),
            ("sdcnl", sources == "sdcnl"),
            ("written", sources == "written"),
        )
    }
    thresholds = choose_thresholds(tables["real_with_post_negatives"])
    log(f"chosen {best[0]} {best[1]:g}; thresholds {thresholds}")

    fitted = fit_members(*best, x_train, y_train, len(CLASSES), members=members)
    blind_p = softmax(ensemble_logits(fitted, x_blind) / temperature)
    report = _report(blind, blind_p, y_blind, thresholds, oof, truth_train)
    report.update(
        version=VERSION,
        model={"kind": best[0], "strength": best[1]},
        temperature=round(temperature, 4),
        thresholds=thresholds,
        classes=list(CLASSES),
        flags=list(FLAG_NAMES),
        cross_validated_thresholds=tables,
        counts={"train": len(train), "blind": len(blind), "left_out_holdouts": int(sum(held))},
        cv_log_loss={f"{k} {s:g}": round(v, 4) for (k, s), v in scores.items()},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_members(out, fitted, temperature)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    log(json.dumps(report["blind"], indent=2))
    return report


def _ranking(truth: np.ndarray, score: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if truth.all() or not truth.any():
        return {}
    return {
        "auc": round(float(roc_auc_score(truth, score)), 4),
        "pr_auc": round(float(average_precision_score(truth, score)), 4),
    }


def _report(
    blind: list[Labelled], p: np.ndarray, y: np.ndarray, thresholds: dict, oof: np.ndarray, truth_train: np.ndarray
) -> dict:
    current = p[:, 2:].sum(axis=1)
    truth = y >= 2
    oof_current = oof[:, 2:].sum(axis=1)
    hand = np.array([r.origin == "hand" for r in blind])
    by_stance = {}
    for stance in sorted({r.stance for r in blind}):
        rows = (
            [i for i, r in enumerate(blind) if hand[i] and r.stance == stance and r.topic != "none"]
            if stance != "none"
            else [i for i, r in enumerate(blind) if hand[i] and r.topic == "none"]
        )
        if rows:
            by_stance[stance] = {
                "n": len(rows),
                "paged": int((current[rows] >= thresholds["page"]).sum()),
                "truly_current": int(truth[rows].sum()),
            }
    kind_right = [CLASSES[int(p[i, 2:].argmax()) + 2] == CLASSES[y[i]] for i in range(len(y)) if truth[i]]
    derived = ~hand
    return {
        "blind": {
            "n": int(hand.sum()),
            "current_risk": int(truth[hand].sum()),
            **_ranking(truth[hand], current[hand]),
            "page": precision_recall(truth[hand], current[hand] >= thresholds["page"]),
            "page_or_review": precision_recall(truth[hand], current[hand] >= thresholds["review"]),
            "history": precision_recall(
                (y == 1)[hand], ((p[:, 1] >= thresholds["history"]) & (current < thresholds["review"]))[hand]
            ),
            "kind_accuracy_on_true_current": round(float(np.mean(kind_right)), 4) if kind_right else None,
            "by_source": {
                source: {
                    **_ranking(truth[idx], current[idx]),
                    **precision_recall(truth[idx], current[idx] >= thresholds["page"]),
                }
                for source in ("counsel-chat", "sdcnl", "written")
                if len(idx := np.array([i for i, r in enumerate(blind) if hand[i] and r.source == source], dtype=int))
            },
            "by_stance_paged": by_stance,
        },
        "blind_post_negatives": {
            "n": int(derived.sum()),
            "paged": int((current[derived] >= thresholds["page"]).sum()),
            "reviewed_or_paged": int((current[derived] >= thresholds["review"]).sum()),
        },
        "blind_with_post_negatives": _ranking(truth, current),
        "cross_validated_train": {
            "page": precision_recall(truth_train, oof_current >= thresholds["page"]),
            "page_or_review": precision_recall(truth_train, oof_current >= thresholds["review"]),
        },
    }
