"""``turnwatch train counselling``: fit and calibrate the counselling-behaviour head.

Data (``examples/labelled/``), one primary behaviour per therapist sentence
(``detectors.counselling.BEHAVIOURS``):
- ``counselling_real.jsonl``: sentences of licensed therapists' counsel-chat answers, labelled by
  hand, stored as references (``cc:<question>:a<k>:<start>-<end>`` + hash, see
  ``detectors.training.real_sentences``) and read from the data directory at training time;
- ``counselling_written.jsonl``: sentences written for turnwatch with the patient message they
  answer (role-play lines are also trained in quotes, as transcripts often show them), for what real counselling lacks: blaming and shaming (role-play included), moralising,
  warning, confronting, minimising, unhedged directing, the AI-assistant register, and the
  look-alikes (a gentle reflection of the patient's own harsh words, kind in-character lines).
Each line keeps its ``source``. The ``blind`` split was fixed when the sets were made and is only
scored, never used for fitting or model choice; sentences from the counsel-chat hold-out questions
(``counsel_chat_holdout``) are never used, so ``turnwatch eval --dataset counsel-chat`` measures
answers the head never saw.

A real sentence is embedded the way the worker sees it: the whole answer goes through the encoder
once and the sentence's token states are pooled (``Encoder.encode_with_spans``).

Steps: embed + sentence flags → 5-fold cross-validation on the train split over a small grid
(logistic, one-hidden-layer MLP) → temperature on the out-of-fold logits → refit on all train →
per-behaviour precision/recall on the blind split. Each inconsistent behaviour's bar (the
probability at which the rules count it) is the lowest, not under ``BAR_FLOOR``, with
cross-validated precision ≥ ``BAR_PRECISION`` on the train split. Writes ``detectors/heads/counselling.npz`` and
``counselling.json`` (metrics).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.counselling import BEHAVIOURS, DEFAULT_HEAD, FLAG_NAMES, INCONSISTENT, answer_flags, unquoted
from detectors.crisis.training import counsel_chat_holdout
from detectors.encoder import Encoder
from detectors.heads_io import save_members, softmax
from detectors.training.ensembles import (
    SEED,
    choose_model,
    ensemble_logits,
    fit_members,
    precision_recall,
    threshold_table,
)
from detectors.training.real_sentences import RealText, sentence_digest
from streams.examples import LABELS_DIR

LABELLED = LABELS_DIR
REAL_SET = LABELLED / "counselling_real.jsonl"
WRITTEN_SET = LABELLED / "counselling_written.jsonl"
VERSION = "counselling/1"
BAR_PRECISION = 0.85  # an inconsistent behaviour's bar: the lowest probability with this cross-validated precision
BAR_FLOOR = 0.4


@dataclass(frozen=True)
class LabelledSentence:
    answer: str  # the text the encoder reads: the whole real answer, or the written sentence
    start: int
    end: int
    label: str
    source: str
    split: str
    context: str = "plain"
    ref: str = ""
    group: int = -1  # copies of one labelled sentence share a group (and a cross-validation fold)

    @property
    def text(self) -> str:
        return self.answer[self.start : self.end]


def load_labelled(data_dir: Path) -> list[LabelledSentence]:
    """Both sets, real sentences resolved from ``data_dir``; refuses a sentence whose text changed."""
    real = RealText(data_dir)
    rows: list[LabelledSentence] = []
    for line in REAL_SET.read_text().splitlines():
        item = json.loads(line)
        key, _, span = item["ref"].rpartition(":")
        start, end = (int(x) for x in span.split("-"))
        answer = real.fields.get(key)
        if answer is None or sentence_digest(answer[start:end]) != item["digest"]:
            raise ValueError(f"{REAL_SET.name}: {item['ref']} no longer matches its labelled sentence (data changed?)")
        rows.append(
            LabelledSentence(
                answer, *unquoted(answer, start, end), item["label"], item["source"], item["split"], ref=item["ref"]
            )
        )
    for line in WRITTEN_SET.read_text().splitlines():
        item = json.loads(line)
        text, context = item["text"], item.get("context", "plain")
        group = len(rows)
        rows.append(
            LabelledSentence(
                text, *unquoted(text, 0, len(text)), item["label"], "written", item["split"], context, group=group
            )
        )
        if context == "roleplay" and item["split"] == "train":
            # In a transcript a line said in character is often quoted; the head must read it the same.
            quoted = f"“{text}”"
            rows.append(
                LabelledSentence(
                    quoted, *unquoted(quoted, 0, len(quoted)), item["label"], "written", "train", context, group=group
                )
            )
    for row in rows:
        if row.label not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {row.label!r} ({row.ref or row.text[:40]})")
    return rows


def held_out_questions(data_dir: Path) -> set[str]:
    real = RealText(data_dir)
    return counsel_chat_holdout([key.split(":")[1] for key in real.fields if key.startswith("cc:")])


def sentence_vectors(encoder: Encoder, rows: list[LabelledSentence], cache_dir: Path) -> np.ndarray:
    """Each sentence pooled from one encoder pass over its answer (cached on disk by content)."""
    answers = sorted({r.answer for r in rows})
    spans = {a: sorted({(r.start, r.end) for r in rows if r.answer == a}) for a in answers}
    digest = hashlib.sha256(repr([(a, spans[a]) for a in answers]).encode()).hexdigest()[:16]
    path = cache_dir / f"counselling-{encoder.backend}-{digest}.npz"
    if path.exists():
        stored = np.load(path)
        keys, vectors = [tuple(k) for k in stored["keys"]], stored["vectors"]
    else:
        keys, chunks = [], []
        for at in range(0, len(answers), 256):
            batch = answers[at : at + 256]
            _, pooled = encoder.encode_with_spans(batch, [spans[a] for a in batch])
            for number, (answer, vectors) in enumerate(zip(batch, pooled)):
                missing = [s for s, v in zip(spans[answer], vectors) if v is None]
                alone = dict(zip(missing, encoder.encode([answer[a:b] for a, b in missing]))) if missing else {}
                for span, vector in zip(spans[answer], vectors):
                    keys.append((at + number, *span))
                    chunks.append(vector if vector is not None else alone[span])
        vectors = np.stack(chunks)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez(path, keys=np.array(keys), vectors=vectors)
    where = {key: i for i, key in enumerate(keys)}
    answer_number = {a: i for i, a in enumerate(answers)}
    return vectors[[where[(answer_number[r.answer], r.start, r.end)] for r in rows]]


def inputs(vectors: np.ndarray, rows: list[LabelledSentence]) -> np.ndarray:
    return np.hstack([vectors, np.stack([answer_flags(r.text) for r in rows])]).astype(np.float32)


def train_counselling(
    data_dir: Path,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    out: Path = DEFAULT_HEAD,
    log: Callable[[str], None] = print,
) -> dict:
    from sklearn.model_selection import StratifiedGroupKFold

    rows = load_labelled(data_dir)
    held = held_out_questions(data_dir)
    in_holdout = [bool(r.ref) and r.ref.split(":")[1] in held for r in rows]
    train = [r for r, h in zip(rows, in_holdout) if r.split == "train" and not h]
    blind = [r for r, h in zip(rows, in_holdout) if r.split == "blind" and not h]
    log(
        f"{len(rows)} labelled sentences: {len(train)} train, {len(blind)} blind, {sum(in_holdout)} left out (hold-out questions)"
    )
    encoder = encoder or Encoder()
    vectors = sentence_vectors(encoder, rows, cache_dir)
    index = {id(r): i for i, r in enumerate(rows)}
    x_train = inputs(vectors[[index[id(r)] for r in train]], train)
    y_train = np.array([BEHAVIOURS.index(r.label) for r in train])
    x_blind = inputs(vectors[[index[id(r)] for r in blind]], blind)
    y_blind = np.array([BEHAVIOURS.index(r.label) for r in blind])

    groups = np.array([r.group if r.group >= 0 else -1 - i for i, r in enumerate(train)])
    folds = list(StratifiedGroupKFold(5, shuffle=True, random_state=SEED).split(x_train, y_train, groups))
    candidates = [("logistic", c) for c in (3.0, 10.0, 30.0)] + [("mlp", a) for a in (0.3, 1.0)]
    best, oof, temperature, scores = choose_model(candidates, x_train, y_train, folds, len(BEHAVIOURS), log)
    log(f"chosen {best[0]} {best[1]:g}")

    tables = {
        label: threshold_table(oof[:, BEHAVIOURS.index(label)], y_train == BEHAVIOURS.index(label))
        for label in INCONSISTENT
    }
    bars = {label: choose_bar(table) for label, table in tables.items()}
    log(f"bars {bars}")

    members = fit_members(*best, x_train, y_train, len(BEHAVIOURS))
    blind_p = softmax(ensemble_logits(members, x_blind) / temperature)
    report = {
        "version": VERSION,
        "classes": list(BEHAVIOURS),
        "flags": list(FLAG_NAMES),
        "model": {"kind": best[0], "strength": best[1]},
        "temperature": round(temperature, 4),
        "bars": bars,
        "counts": {
            "train": len(train),
            "blind": len(blind),
            "left_out_holdout_questions": int(sum(in_holdout)),
            "by_label_train": _counts(train),
            "by_label_blind": _counts(blind),
        },
        "cv_log_loss": {f"{k} {s:g}": round(v, 4) for (k, s), v in scores.items()},
        "blind": _scores(blind, blind_p, y_blind, bars),
        "cross_validated_train": _scores(train, oof, y_train, bars),
        "cross_validated_thresholds": tables,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_members(out, members, temperature)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    log(json.dumps(report["blind"]["inconsistent_at_bar"], indent=2))
    return report


def _counts(rows: list[LabelledSentence]) -> dict[str, int]:
    return {label: sum(r.label == label for r in rows) for label in BEHAVIOURS}


def choose_bar(table: list[dict[str, float]]) -> float:
    return next((r["threshold"] for r in table if r["threshold"] >= BAR_FLOOR and r["precision"] >= BAR_PRECISION), 0.9)


def _scores(rows: list[LabelledSentence], p: np.ndarray, y: np.ndarray, bars: dict[str, float]) -> dict:
    """Per behaviour: precision/recall of the top label; for the inconsistent ones also of
    P ≥ its bar (what the rules use), split by real and written sentences."""
    top = p.argmax(axis=1)
    sources = np.array([r.source != "written" for r in rows])
    by_label = {label: precision_recall(y == k, top == k) for k, label in enumerate(BEHAVIOURS)}
    at_alert = {}
    for label in INCONSISTENT:
        k = BEHAVIOURS.index(label)
        flagged = p[:, k] >= bars[label]
        at_alert[label] = {
            "all": precision_recall(y == k, flagged),
            "real": precision_recall((y == k)[sources], flagged[sources]),
            "written": precision_recall((y == k)[~sources], flagged[~sources]),
        }
    real_flags = {label: int((p[sources, BEHAVIOURS.index(label)] >= bars[label]).sum()) for label in INCONSISTENT}
    return {
        "n": len(y),
        "accuracy": round(float(np.mean(top == y)), 4) if len(y) else None,
        "top_label": by_label,
        "inconsistent_at_bar": at_alert,
        "real_sentences_flagged_per_100": {
            label: round(100 * n / max(1, int(sources.sum())), 2) for label, n in real_flags.items()
        },
    }
