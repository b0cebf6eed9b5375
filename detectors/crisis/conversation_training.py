"""``turnwatch train crisis`` (second step): fit the conversation model on real posts labelled by hand.

Data: ``labelled/posts_real.jsonl``, every SDCNL post and counsel-chat question labelled by hand
(``level``: none, supportive, past_only, indicator, ideation, behavior, attempt; flags for danger
from others and harm to others), stored as references (``sdcnl:<row>``, ``cc:<questionID>``) with a
hash, the text read from the data directory. Two labellers agreed on 200 of them with Cohen's κ
0.87 over the seven levels and 0.94 on ideation-or-worse (README). The ``blind`` split is the seeded
hold-outs (20 % of SDCNL, 25 % of counsel-chat questions) that no crisis model trains on.

Each post runs through the worker's own code (``assess_turns``: candidates, sentence head, evidence
channels) into a one-turn ``ConversationEvidence``: a post is risk said in pieces, sentence after
sentence. Target: ideation or worse. Posts whose only risk is danger from or harm to others are left
out (the sentence head pages those). A logistic model over the decayed channels, regularisation by
5-fold cross-validated log-loss; thresholds from the out-of-fold probabilities:

- page: the lowest threshold with precision ≥ ``PAGE_PRECISION`` on the pooled posts, and never
  below a cross-validated counsel-chat false-page rate of ``MAX_FALSE_PAGES_PER_100`` on questions
  without the writer's own risk;
- review: the lowest threshold with precision ≥ ``REVIEW_PRECISION`` that sends at most
  ``MAX_CALM_REVIEWS_PER_100`` counsel-chat questions without the writer's own risk to the queue.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from detectors.crisis.conversation import DEFAULT_MODEL, ConversationEvidence, channel_vector, default_channels
from detectors.crisis.sentence_head import CrisisRiskModel, assess_turns
from detectors.crisis.training import POSTS_SET, SDCNL, Labelled
from detectors.encoder import Encoder
from detectors.training.embeddings import cached_embeddings
from detectors.training.ensembles import MEMBERS, SEED
from detectors.training.real_sentences import COUNSEL_CHAT, sentence_digest

RISK_LEVELS = ("ideation", "behavior", "attempt")
PAGE_PRECISION = 0.85
REVIEW_PRECISION = 0.6
MAX_FALSE_PAGES_PER_100 = 3.0
MAX_CALM_REVIEWS_PER_100 = 4.0
VERSION = "crisis-conversation/1"


def post_texts(data_dir: Path) -> dict[str, str]:
    """Every labelled post's text as the worker sees it (title, a newline, the body)."""
    csv.field_size_limit(10**8)
    texts: dict[str, str] = {}
    with open(data_dir / SDCNL, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.DictReader(handle)):
            texts[f"sdcnl:{number}"] = f"{row['title']}\n{row['selftext']}".strip()
    with open(data_dir / COUNSEL_CHAT, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            texts.setdefault(f"cc:{row['questionID']}", f"{row['questionTitle']}\n{row['questionText']}".strip())
    return texts


def load_posts(data_dir: Path) -> list[dict]:
    """The labelled posts with their text; refuses a post whose text changed under its label."""
    texts = post_texts(data_dir)
    posts = []
    for line in POSTS_SET.read_text().splitlines():
        post = json.loads(line)
        text = texts[post["ref"]]
        if sentence_digest(text) != post["digest"]:
            raise ValueError(f"{POSTS_SET.name}: {post['ref']} no longer matches its labelled post (data changed?)")
        posts.append({**post, "text": text, "source": post["ref"].split(":")[0]})
    return posts


def is_risk(post: dict) -> bool:
    return post["level"] in RISK_LEVELS


def only_other_danger(post: dict) -> bool:
    return not is_risk(post) and (post["danger_from_others"] or post["harm_to_others"])


class CachedEncode:
    """The encoder's ``encode`` with every sentence's embedding cached on disk between runs."""

    def __init__(self, encoder: Encoder, cache_dir: Path, name: str, texts: Sequence[str]) -> None:
        self.encoder = encoder
        self.known = dict(zip(texts, cached_embeddings(encoder, list(texts), cache_dir, name))) if texts else {}

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.known]
        if missing:
            self.known.update(zip(missing, self.encoder.encode(missing)))
        return np.stack([self.known[t] for t in texts])


def post_evidence(posts: Sequence[dict], head: CrisisRiskModel, encode: Callable) -> list[ConversationEvidence]:
    """Each post as a one-turn conversation's evidence, through the worker's own code."""
    memories = []
    for start in range(0, len(posts), 64):
        chunk = posts[start : start + 64]
        for post, signals in zip(chunk, assess_turns(head, [p["text"] for p in chunk], encode)):
            memory = ConversationEvidence()
            memory.add(0, post["text"], None, signals.evidence, signals.safety)
            memories.append(memory)
    return memories


STACK_FOLDS = 5


def post_of(ref: str) -> str:
    """The post a real sentence's reference belongs to (``sdcnl:12:s:0-40`` → ``sdcnl:12``)."""
    return ":".join(ref.split(":")[:2])


def stacked_heads(
    data_dir: Path,
    head: CrisisRiskModel,
    posts: Sequence[dict],
    cache_dir: Path,
    encoder: Encoder,
    extra: Sequence[Labelled] = (),
    head_file: Path | None = None,
    members: int = MEMBERS,
) -> tuple[dict[str, int], list[CrisisRiskModel]]:
    """Sentence heads that never saw a training post's own sentences, one per fold of the training
    posts (stacking): the conversation model must learn from the sentence head as it behaves on text it
    has not seen, which is how it behaves in production. Written sentences (and ``extra`` ones, which
    belong to no post) train every fold; the model kind is the one ``head_file`` (the shipped head) chose."""
    from detectors.crisis.sentence_head import CLASSES, DEFAULT_HEAD
    from detectors.crisis.training import held_out_refs, in_holdout, inputs, load_labelled, post_negatives
    from detectors.training.ensembles import fit_members

    meta = json.loads((head_file or DEFAULT_HEAD).with_suffix(".json").read_text())
    kind, strength = meta["model"]["kind"], meta["model"]["strength"]
    rows = load_labelled(data_dir) + post_negatives(data_dir)
    sdcnl_out, cc_out = held_out_refs(data_dir)
    rows = [r for r in rows if r.split == "train" and not in_holdout(r.ref, sdcnl_out, cc_out)]
    x = inputs(
        cached_embeddings(encoder, [r.text for r in rows], cache_dir, "crisis-risk-stack"), [r.text for r in rows]
    )
    if extra:
        x = np.vstack([x, inputs(encoder.encode([r.text for r in extra]), [r.text for r in extra])])
        rows = [*rows, *extra]
    y = np.array([CLASSES.index(r.target) for r in rows])
    training = sorted(p["ref"] for p in posts if p["split"] == "train")
    order = np.random.default_rng(SEED).permutation(len(training))
    fold_of = {training[i]: k % STACK_FOLDS for k, i in enumerate(order)}
    from joblib import Parallel, delayed

    def fold_head(fold: int) -> CrisisRiskModel:
        keep = [i for i, r in enumerate(rows) if not r.ref or fold_of.get(post_of(r.ref)) != fold]
        fitted = fit_members(kind, strength, x[keep], y[keep], len(CLASSES), members=members)
        return CrisisRiskModel(fitted, head.temperature, head.thresholds, f"{head.version}-fold{fold}")

    return fold_of, Parallel(n_jobs=-1)(delayed(fold_head)(fold) for fold in range(STACK_FOLDS))


def train_conversation(
    data_dir: Path,
    head: CrisisRiskModel,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    out: Path = DEFAULT_MODEL,
    log: Callable[[str], None] = print,
    extra: Sequence[Labelled] = (),
    head_file: Path | None = None,
    members: int = MEMBERS,
) -> dict:
    """``head``: the sentence head the worker will run with; ``extra``, ``head_file``, ``members``: see
    ``stacked_heads``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    posts = [p for p in load_posts(data_dir) if not only_other_danger(p)]
    encoder = encoder or Encoder()
    from detectors.crisis.sentence_head import candidate_spans

    sentences = sorted({sentence for p in posts for _, _, sentence in candidate_spans(p["text"])})
    encode = CachedEncode(encoder, cache_dir, "crisis-post-sentences", sentences)
    log(f"stacking: {STACK_FOLDS} sentence heads, each without one fold of the training posts")
    fold_of, heads = stacked_heads(data_dir, head, posts, cache_dir, encoder, extra, head_file, members)
    memories: list[ConversationEvidence | None] = [None] * len(posts)
    groups: dict[int, list[int]] = {}
    for i, post in enumerate(posts):
        groups.setdefault(fold_of.get(post["ref"], -1), []).append(i)
    for fold, indices in groups.items():
        for i, memory in zip(
            indices, post_evidence([posts[i] for i in indices], heads[fold] if fold >= 0 else head, encode)
        ):
            memories[i] = memory
    channels = default_channels()
    x = np.stack([channel_vector(channels, m.values()) for m in memories])
    y = np.array([is_risk(p) for p in posts])
    train = np.array([p["split"] == "train" for p in posts])
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    z = (x - mean) / scale
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
    scores = {}
    for c in (0.01, 0.03, 0.1, 0.3, 1.0):
        oof = cross_val_predict(
            LogisticRegression(C=c, max_iter=5000), z[train], y[train], cv=folds, method="predict_proba"
        )
        scores[c] = float(-np.mean(np.log(np.clip(np.where(y[train], oof[:, 1], oof[:, 0]), 1e-9, 1))))
        log(f"  conversation model C={c:g}: cross-validated log-loss {scores[c]:.4f}")
    best = min(scores, key=scores.get)
    oof = cross_val_predict(
        LogisticRegression(C=best, max_iter=5000), z[train], y[train], cv=folds, method="predict_proba"
    )[:, 1]
    fitted = LogisticRegression(C=best, max_iter=5000).fit(z[train], y[train])
    probability = fitted.predict_proba(z)[:, 1]
    train_posts = [p for p, t in zip(posts, train) if t]
    thresholds = choose_thresholds(oof, y[train], train_posts)
    log(f"chosen C={best:g}; thresholds {thresholds}")
    report = {
        "version": VERSION,
        "channels": list(channels),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in fitted.coef_[0]],
        "intercept": round(float(fitted.intercept_[0]), 6),
        "thresholds": thresholds,
        "regularisation": best,
        "cv_log_loss": {f"{c:g}": round(v, 4) for c, v in scores.items()},
        "cross_validated_train": post_report(
            train_posts, oof, [m for m, t in zip(memories, train) if t], thresholds, head.thresholds.page
        ),
        "blind": post_report(
            [p for p, t in zip(posts, train) if not t],
            probability[~train],
            [m for m, t in zip(memories, train) if not t],
            thresholds,
            head.thresholds.page,
        ),
        "counts": {"train": int(train.sum()), "blind": int((~train).sum())},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    log(json.dumps(report["blind"], indent=1))
    return report


def false_pages_per_100(score: np.ndarray, posts: Sequence[dict], threshold: float) -> float:
    """Pages per 100 counsel-chat questions whose writer holds no risk of their own."""
    calm = [i for i, p in enumerate(posts) if p["source"] == "cc" and not is_risk(p)]
    return 100.0 * float((score[calm] >= threshold).sum()) / max(len(calm), 1)


def choose_thresholds(score: np.ndarray, truth: np.ndarray, posts: Sequence[dict]) -> dict[str, float]:
    grid = np.round(np.arange(0.05, 0.991, 0.01), 2)

    def precision(t: float) -> float:
        flagged = score >= t
        return float((flagged & truth).sum() / max(flagged.sum(), 1))

    page = next(
        (
            float(t)
            for t in grid
            if precision(t) >= PAGE_PRECISION and false_pages_per_100(score, posts, t) <= MAX_FALSE_PAGES_PER_100
        ),
        0.99,
    )
    review = next(
        (
            float(t)
            for t in grid
            if precision(t) >= REVIEW_PRECISION and false_pages_per_100(score, posts, t) <= MAX_CALM_REVIEWS_PER_100
        ),
        page,
    )
    return {"page": page, "review": min(review, page)}


def post_report(
    posts: Sequence[dict],
    score: np.ndarray,
    memories: Sequence[ConversationEvidence],
    thresholds: dict,
    sentence_page: float,
) -> dict:
    """Per source: ranking (AUC, PR-AUC) of the conversation model and, for comparison, of the riskiest
    sentence alone; precision and recall of its page and review thresholds. The worker pages only when
    the conversation risk reaches the page threshold (a sentence page needs it too), so ``page`` is
    the worker's page rate on posts."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    from detectors.training.ensembles import precision_recall

    out: dict = {}
    sentence_max = np.array([m.values().get("rank:1", (0.0, None))[0] for m in memories])
    for source in ("sdcnl", "cc"):
        idx = np.array([i for i, p in enumerate(posts) if p["source"] == source], dtype=int)
        truth = np.array([is_risk(posts[i]) for i in idx])
        entry: dict = {"n": len(idx), "risk": int(truth.sum())}
        if 0 < truth.sum() < len(idx):
            entry.update(
                auc=round(float(roc_auc_score(truth, score[idx])), 4),
                pr_auc=round(float(average_precision_score(truth, score[idx])), 4),
                sentence_max_auc=round(float(roc_auc_score(truth, sentence_max[idx])), 4),
                sentence_max_pr_auc=round(float(average_precision_score(truth, sentence_max[idx])), 4),
            )
        entry["page"] = precision_recall(truth, score[idx] >= thresholds["page"])
        entry["page_or_review"] = precision_recall(truth, score[idx] >= thresholds["review"])
        if source == "sdcnl":
            entry["behaviour_or_attempt_paged"] = round(
                float(
                    np.mean(
                        [score[i] >= thresholds["page"] for i in idx if posts[i]["level"] in ("behavior", "attempt")]
                    )
                ),
                4,
            )
        else:
            entry["false_pages_per_100_calm_questions"] = round(
                false_pages_per_100(score[idx], [posts[i] for i in idx], thresholds["page"]), 2
            )
        out[source] = entry
    return out


def train_crisis(
    data_dir: Path, cache_dir: Path = Path(".turnwatch/cache"), log: Callable[[str], None] = print
) -> dict:
    """Both crisis models, in order: the sentence head, then the conversation model over its output."""
    from detectors.crisis.sentence_head import DEFAULT_HEAD
    from detectors.crisis.training import train_crisis_risk

    encoder = Encoder()
    sentence = train_crisis_risk(data_dir, cache_dir, encoder, DEFAULT_HEAD, log)
    conversation = train_conversation(
        data_dir, CrisisRiskModel.load(DEFAULT_HEAD), cache_dir, encoder, DEFAULT_MODEL, log
    )
    return {"sentence_head": sentence["blind"], "conversation": conversation["blind"]}
