"""``turnwatch train counselling``: fit the MITI code head (per sentence) and the empathy head (per answer).

Data (``labelled/``):
- ``miti_real.jsonl``: 480 licensed therapists' counsel-chat answers, every sentence coded by hand
  (``codes.CODES``, MITI 4.2 in our words) and each answer rated for the three empathy mechanisms
  (emotional reaction, interpretation, exploration: none / weak / strong) against the question it
  answers; stored as references (``cc:<question>:a<k>`` + a hash of the answer), read from the data
  directory at training time. Answers to the seeded counsel-chat hold-out questions are the real
  ``blind`` split (120 answers), fixed before any training;
- ``miti_written.jsonl``: exchanges written for turnwatch in the AI-therapist register (patient
  message, reply, codes, empathy), for what licensed answers rarely do: persuading without
  permission, confronting, shaming, warning, ignoring feelings, pushing on, in-role lines of a
  role-play the patient asked for; blind by a hash of the reply;
- ``counselling_written.jsonl``: the earlier written sentences, their behaviours mapped onto codes
  (``OLD_LABELS``);
- ``miti_roleplay.jsonl``: in-role lines of rehearsals patients asked for, firm critique of the work
  (confront, persuade, questions, information) against contempt (shame), in many personas.

Codes: each sentence is embedded as the worker sees it (pooled from one pass over its answer) plus
flags, one of which says how much of the patient's preceding words it takes up. 5-fold cross-validation
grouped by answer picks the model; the temperature comes from the out-of-fold logits; each
MI-inconsistent code's bar is the lowest probability (≥ ``BAR_FLOOR``) with cross-validated precision ≥
``BAR_PRECISION``. Empathy: one multinomial logistic head per mechanism over the answer's embedding, its
similarity to the patient turn (both as stored in state) and its code profile (``empathy.features``).
Writes ``heads/codes.npz`` + ``.json`` and ``heads/empathy.json``, with per-code and per-mechanism
precision/recall on the blind splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.crisis.training import counsel_chat_holdout
from detectors.encoder import Encoder
from detectors.features import Embedding
from detectors.heads_io import save_members, softmax
from detectors.therapist.codes import (
    CODES,
    DEFAULT_HEAD,
    FLAG_NAMES,
    MI_INCONSISTENT,
    AnswerCodes,
    CodesModel,
    answer_flags,
    summarise,
    unquoted,
)
from detectors.therapist.empathy import DEFAULT_MODEL as EMPATHY_MODEL
from detectors.therapist.empathy import LEVELS, MECHANISMS, features
from detectors.training.ensembles import (
    MEMBERS,
    SEED,
    choose_model,
    ensemble_logits,
    fit_members,
    precision_recall,
    threshold_table,
)
from detectors.training.real_sentences import RealText, sentence_digest

LABELLED = Path(__file__).resolve().parent / "labelled"
REAL_SET = LABELLED / "miti_real.jsonl"
WRITTEN_SET = LABELLED / "miti_written.jsonl"
OLD_WRITTEN_SET = LABELLED / "counselling_written.jsonl"
ROLEPLAY_SET = LABELLED / "miti_roleplay.jsonl"
OLD_LABELS = {
    "blaming_shaming": "shame",
    "minimising": "minimise",
    "confronting": "confront",
    "moralising": "confront",
    "warning": "warn",
    "directing": "persuade",
    "suggestion": "persuade_with_permission",
    "permission_seeking": "seek_collaboration",
    "information": "giving_information",
    "open_question": "open_question",
    "closed_question": "closed_question",
    "affirmation": "affirm",
    "neutral": "neutral",
    # The earlier scheme did not split reflections: its reflections mostly say back what was said, and
    # its empathy statements name a feeling the patient implied ("that sounds exhausting").
    "reflection": "simple_reflection",
    "empathy": "complex_reflection",
}
VERSION = "codes/1"
BAR_PRECISION = 0.85
BAR_FLOOR = 0.4


@dataclass(frozen=True)
class LabelledSentence:
    answer: str  # the text the encoder reads: the whole answer
    start: int
    end: int
    label: str
    source: str
    split: str
    patient: str = ""
    context: str = "plain"
    group: int = -1  # the sentences of one answer share a group (and a cross-validation fold)

    @property
    def text(self) -> str:
        return self.answer[self.start : self.end]


@dataclass(frozen=True)
class LabelledAnswer:
    answer: str
    patient: str
    empathy: dict[str, int]
    source: str
    split: str
    sentences: tuple[tuple[int, int], ...]


def question_text(real: RealText, question: str) -> str:
    return f"{real.fields[f'cc:{question}:t']}\n{real.fields[f'cc:{question}:q']}".strip()


def spans_of(reply: str, sentences: list[str]) -> list[tuple[int, int]]:
    """Where each written sentence sits in its reply, in order."""
    spans, at = [], 0
    for sentence in sentences:
        start = reply.find(sentence.strip(), at)
        if start < 0:
            raise ValueError(f"{WRITTEN_SET.name}: a sentence is not in its reply ({sentence[:40]!r})")
        spans.append(unquoted(reply, start, start + len(sentence.strip())))
        at = start + len(sentence.strip())
    return spans


def load_labelled(data_dir: Path) -> tuple[list[LabelledSentence], list[LabelledAnswer]]:
    """Every coded sentence and every rated answer; refuses a real answer whose text changed."""
    real = RealText(data_dir)
    sentences: list[LabelledSentence] = []
    answers: list[LabelledAnswer] = []
    for line in REAL_SET.read_text().splitlines():
        item = json.loads(line)
        text = real.fields.get(item["answer"])
        if text is None or sentence_digest(text) != item["digest"]:
            raise ValueError(f"{REAL_SET.name}: {item['answer']} no longer matches its coded answer (data changed?)")
        patient = question_text(real, item["answer"].split(":")[1])
        group = len(answers)
        spans = tuple((a, b) for a, b, _ in item["codes"])
        answers.append(LabelledAnswer(text, patient, item["empathy"], "counsel-chat", item["split"], spans))
        sentences += [
            LabelledSentence(text, a, b, code, "counsel-chat", item["split"], patient, group=group)
            for a, b, code in item["codes"]
        ]
    for line in WRITTEN_SET.read_text().splitlines():
        item = json.loads(line)
        spans = spans_of(item["reply"], [s["text"] for s in item["sentences"]])
        group = len(answers)
        answers.append(
            LabelledAnswer(item["reply"], item["patient"], item["empathy"], "written", item["split"], tuple(spans))
        )
        sentences += [
            LabelledSentence(
                item["reply"], a, b, s["code"], "written", item["split"], item["patient"], item["context"], group
            )
            for (a, b), s in zip(spans, item["sentences"])
        ]
    for line in OLD_WRITTEN_SET.read_text().splitlines():
        item = json.loads(line)
        code = OLD_LABELS.get(item["label"])
        if code is None:
            continue
        text, group = item["text"], len(answers) + len(sentences)
        copies = [text, f"“{text}”"] if item.get("context") == "roleplay" and item["split"] == "train" else [text]
        sentences += [
            LabelledSentence(
                said,
                *unquoted(said, 0, len(said)),
                code,
                "written",
                item["split"],
                item.get("patient", ""),
                item.get("context", "plain"),
                group,
            )
            for said in copies
        ]
    for line in ROLEPLAY_SET.read_text().splitlines():
        item = json.loads(line)
        reply, group = item["reply"], len(answers) + len(sentences)
        sentences.append(
            LabelledSentence(
                reply,
                *unquoted(reply, 0, len(reply)),
                item["code"],
                "written",
                item["split"],
                item["patient"],
                "roleplay",
                group,
            )
        )
    unknown = {s.label for s in sentences} - set(CODES)
    if unknown:
        raise ValueError(f"unknown codes {sorted(unknown)}")
    return sentences, answers


def held_out_questions(data_dir: Path) -> set[str]:
    real = RealText(data_dir)
    return counsel_chat_holdout([key.split(":")[1] for key in real.fields if key.startswith("cc:")])


def pooled_vectors(encoder: Encoder, texts: list[str], spans: list[list[tuple[int, int]]], cache_dir: Path, name: str):
    """Each text's embedding and its spans pooled from one encoder pass (cached on disk by content)."""
    digest = hashlib.sha256(repr(list(zip(texts, spans))).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{encoder.backend}-{digest}.npz"
    if path.exists():
        stored = np.load(path, allow_pickle=True)
        return stored["whole"], list(stored["pooled"])
    whole, pooled = [], []
    for at in range(0, len(texts), 128):
        vectors, found = encoder.encode_with_spans(texts[at : at + 128], spans[at : at + 128])
        whole.append(vectors)
        for text, answer_spans, span_vectors in zip(texts[at : at + 128], spans[at : at + 128], found):
            missing = [s for s, v in zip(answer_spans, span_vectors) if v is None]
            alone = dict(zip(missing, encoder.encode([text[a:b] for a, b in missing]))) if missing else {}
            pooled.append(np.stack([v if v is not None else alone[s] for s, v in zip(answer_spans, span_vectors)]))
    whole_array = np.concatenate(whole)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, whole=whole_array, pooled=np.array(pooled, dtype=object))
    return whole_array, pooled


def sentence_vectors(encoder: Encoder, rows: list[LabelledSentence], cache_dir: Path) -> np.ndarray:
    texts = sorted({r.answer for r in rows})
    spans = {t: sorted({(r.start, r.end) for r in rows if r.answer == t}) for t in texts}
    _, pooled = pooled_vectors(encoder, texts, [spans[t] for t in texts], cache_dir, "codes")
    where = {(t, s): vectors[i] for t, vectors in zip(texts, pooled) for i, s in enumerate(spans[t])}
    return np.stack([where[(r.answer, (r.start, r.end))] for r in rows])


def inputs(vectors: np.ndarray, rows: list[LabelledSentence]) -> np.ndarray:
    return np.hstack([vectors, np.stack([answer_flags(r.text, r.patient) for r in rows])]).astype(np.float32)


@dataclass(frozen=True)
class FittedCodes:
    members: list
    temperature: float
    bars: dict[str, float]
    model: tuple[str, float]
    scores: dict
    out_of_fold: np.ndarray
    y: np.ndarray


def fit_codes(
    train: list[LabelledSentence],
    x: np.ndarray,
    candidates: list[tuple[str, float]],
    folds: int = 5,
    members: int = MEMBERS,
    log: Callable[[str], None] = print,
) -> FittedCodes:
    """The best candidate by cross-validation grouped by answer, its temperature and its MI-inconsistent
    bars from the out-of-fold probabilities, refitted on all of ``train``."""
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.array([CODES.index(r.label) for r in train])
    groups = np.array([r.group for r in train])
    split = list(StratifiedGroupKFold(folds, shuffle=True, random_state=SEED).split(x, y, groups))
    best, oof, temperature, scores = choose_model(candidates, x, y, split, len(CODES), log, members)
    tables = {code: threshold_table(oof[:, CODES.index(code)], y == CODES.index(code)) for code in MI_INCONSISTENT}
    bars = {code: choose_bar(table) for code, table in tables.items()}
    log(f"chosen {best[0]} {best[1]:g}; bars {bars}")
    fitted = fit_members(*best, x, y, len(CODES), members=members)
    return FittedCodes(fitted, temperature, bars, best, scores, oof, y)


def save_codes(out: Path, fitted: FittedCodes, report: dict) -> None:
    """The head's weights and, beside them, the metadata ``CodesModel.load`` reads plus the report."""
    document = {
        "version": VERSION,
        "classes": list(CODES),
        "flags": list(FLAG_NAMES),
        "model": {"kind": fitted.model[0], "strength": fitted.model[1]},
        "temperature": round(fitted.temperature, 4),
        "bars": fitted.bars,
        **report,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_members(out, fitted.members, fitted.temperature)
    out.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")


def blind_scores(rows: list[LabelledSentence], p: np.ndarray, bars: dict[str, float]) -> dict:
    y = np.array([CODES.index(r.label) for r in rows])
    return {source: _scores(*_subset(rows, p, y, source), bars) for source in ("counsel-chat", "written")}


def train_counselling(
    data_dir: Path,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    out: Path = DEFAULT_HEAD,
    log: Callable[[str], None] = print,
) -> dict:
    """Both heads: the codes, then empathy over them."""
    rows, answers = load_labelled(data_dir)
    train = [r for r in rows if r.split == "train"]
    blind = [r for r in rows if r.split == "blind"]
    log(f"{len(rows)} coded sentences: {len(train)} train, {len(blind)} blind; {len(answers)} rated answers")
    encoder = encoder or Encoder()
    vectors = sentence_vectors(encoder, rows, cache_dir)
    index = {id(r): i for i, r in enumerate(rows)}
    x_train = inputs(vectors[[index[id(r)] for r in train]], train)
    x_blind = inputs(vectors[[index[id(r)] for r in blind]], blind)
    fitted = fit_codes(train, x_train, [("mlp", a) for a in (0.3, 1.0, 3.0)], log=log)
    blind_p = softmax(ensemble_logits(fitted.members, x_blind) / fitted.temperature)
    report = {
        "counts": {
            "train": len(train),
            "blind": len(blind),
            "train_by_code": _counts(train),
            "blind_by_code": _counts(blind),
        },
        "cv_log_loss": {f"{k} {s:g}": round(v, 4) for (k, s), v in fitted.scores.items()},
        "blind": blind_scores(blind, blind_p, fitted.bars),
        "cross_validated_train": _scores(train, fitted.out_of_fold, fitted.y, fitted.bars),
    }
    save_codes(out, fitted, report)
    report = json.loads(out.with_suffix(".json").read_text())
    codes_model = CodesModel.load(out)
    report["empathy"] = train_empathy(answers, codes_model, encoder, cache_dir, log)
    log(json.dumps({"codes_blind": report["blind"], "empathy_blind": report["empathy"]["blind"]}, indent=1))
    return report


def retrain_codes(
    data_dir: Path,
    extra: list[LabelledSentence],
    out: Path,
    base: Path = DEFAULT_HEAD,
    cache_dir: Path = Path(".turnwatch/cache"),
    encoder: Encoder | None = None,
    folds: int = 5,
    members: int = MEMBERS,
    log: Callable[[str], None] = print,
) -> dict:
    """The codes head retrained on the hand-coded train split plus ``extra`` sentences (coded from
    reviewers' verdicts), with the model kind and strength ``base`` chose; its temperature and bars
    re-derived by cross-validation. Written to ``out``. The report compares ``base`` and the new head
    on the hand-coded blind split. The empathy head is not retrained: it reads the code profile but
    learns answer-level ratings that verdicts do not give."""
    rows, _ = load_labelled(data_dir)
    train = [r for r in rows if r.split == "train"]
    blind = [r for r in rows if r.split == "blind"]
    encoder = encoder or Encoder()
    vectors = sentence_vectors(encoder, rows, cache_dir)
    index = {id(r): i for i, r in enumerate(rows)}
    x_extra = inputs(sentence_vectors(encoder, extra, cache_dir), extra) if extra else None
    x_train = inputs(vectors[[index[id(r)] for r in train]], train)
    if x_extra is not None:
        x_train = np.vstack([x_train, x_extra])
    x_blind = inputs(vectors[[index[id(r)] for r in blind]], blind)
    chosen = json.loads(base.with_suffix(".json").read_text())["model"]
    log(f"{len(train)} hand-coded and {len(extra)} verdict sentences; model {chosen['kind']} {chosen['strength']}")
    fitted = fit_codes(train + extra, x_train, [(chosen["kind"], chosen["strength"])], folds, members, log)
    before = CodesModel.load(base)
    before_p = softmax(ensemble_logits(before.members, x_blind) / before.temperature)
    after_p = softmax(ensemble_logits(fitted.members, x_blind) / fitted.temperature)
    report = {
        "base": str(base),
        "verdict_sentences": _counts(extra),
        "counts": {"train": len(train), "blind": len(blind)},
        "blind_before": blind_scores(blind, before_p, before.bars),
        "blind": blind_scores(blind, after_p, fitted.bars),
    }
    save_codes(out, fitted, report)
    return report


def answer_codes(model: CodesModel, answers: list[LabelledAnswer], pooled: list[np.ndarray]) -> list[AnswerCodes]:
    out = []
    for answer, vectors in zip(answers, pooled):
        sentences = [answer.answer[a:b] for a, b in answer.sentences]
        p = model.probabilities(vectors, sentences, [answer.patient] * len(sentences))
        out.append(summarise(answer.sentences, p, model.bars, len(answer.answer.split())))
    return out


def stored(vector: np.ndarray) -> np.ndarray:
    """An embedding as the conversation state keeps it (int8), so training sees what the detector sees."""
    return Embedding.of(vector).vector()


def train_empathy(
    answers: list[LabelledAnswer], codes_model: CodesModel, encoder: Encoder, cache_dir: Path, log: Callable
) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts = [a.answer for a in answers]
    whole, pooled = pooled_vectors(encoder, texts, [list(a.sentences) for a in answers], cache_dir, "empathy")
    patients = cached_patients(encoder, [a.patient for a in answers], cache_dir)
    codes = answer_codes(codes_model, answers, pooled)
    x = np.stack([features(stored(w), stored(p), c) for w, p, c in zip(whole, patients, codes)])
    train = np.array([a.split == "train" for a in answers])
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
    z = (x - mean) / scale
    heads, report = {}, {"blind": {}, "cross_validated_train": {}}
    for mechanism in MECHANISMS:
        y = np.array([a.empathy[mechanism] for a in answers])
        folds = StratifiedKFold(5, shuffle=True, random_state=SEED)
        losses = {}
        for c in (0.01, 0.03, 0.1, 0.3):
            p = cross_val_predict(
                LogisticRegression(C=c, max_iter=5000), z[train], y[train], cv=folds, method="predict_proba"
            )
            losses[c] = float(-np.mean(np.log(np.clip(p[np.arange(len(p)), y[train]], 1e-9, 1))))
        c = min(losses, key=losses.get)
        oof = cross_val_predict(
            LogisticRegression(C=c, max_iter=5000), z[train], y[train], cv=folds, method="predict_proba"
        )
        fitted = LogisticRegression(C=c, max_iter=5000).fit(z[train], y[train])
        heads[mechanism] = {
            "coef": np.round(fitted.coef_, 6).tolist(),
            "intercept": np.round(fitted.intercept_, 6).tolist(),
            "regularisation": c,
        }
        report["cross_validated_train"][mechanism] = _levels(y[train], oof.argmax(axis=1))
        blind_p = fitted.predict_proba(z[~train])
        report["blind"][mechanism] = {
            source: _levels(y[~train][sel], blind_p[sel].argmax(axis=1))
            for source in ("counsel-chat", "written")
            if (sel := np.array([a.source == source for a, t in zip(answers, train) if not t])).any()
        }
        log(f"  empathy {mechanism}: C={c:g}, blind {report['blind'][mechanism]}")
    document = {
        "version": "empathy/1",
        "mechanisms": list(MECHANISMS),
        "levels": list(LEVELS),
        "mean": np.round(mean, 6).tolist(),
        "scale": np.round(scale, 6).tolist(),
        "heads": heads,
        "report": report,
    }
    EMPATHY_MODEL.write_text(json.dumps(document, indent=1) + "\n")
    return report


def cached_patients(encoder: Encoder, texts: list[str], cache_dir: Path) -> np.ndarray:
    from detectors.training.embeddings import cached_embeddings

    return cached_embeddings(encoder, [t or "(none)" for t in texts], cache_dir, "empathy-patients")


def _levels(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy over none/weak/strong, and precision/recall of each level and of 'any' (weak or strong)."""
    return {
        "n": len(truth),
        "accuracy": round(float(np.mean(truth == predicted)), 4) if len(truth) else None,
        **{LEVELS[k]: precision_recall(truth == k, predicted == k) for k in range(len(LEVELS))},
        "any": precision_recall(truth > 0, predicted > 0),
    }


def _subset(rows: list[LabelledSentence], p: np.ndarray, y: np.ndarray, source: str):
    keep = np.array([r.source == source for r in rows])
    return [r for r, k in zip(rows, keep) if k], p[keep], y[keep]


def _counts(rows: list[LabelledSentence]) -> dict[str, int]:
    return {code: sum(r.label == code for r in rows) for code in CODES}


def choose_bar(table: list[dict[str, float]]) -> float:
    return next((r["threshold"] for r in table if r["threshold"] >= BAR_FLOOR and r["precision"] >= BAR_PRECISION), 0.9)


def _scores(rows: list[LabelledSentence], p: np.ndarray, y: np.ndarray, bars: dict[str, float]) -> dict:
    """Per code: precision/recall of the top code; for the MI-inconsistent ones also of P ≥ its bar
    (what the rules use)."""
    top = p.argmax(axis=1)
    return {
        "n": len(y),
        "accuracy": round(float(np.mean(top == y)), 4) if len(y) else None,
        "top_code": {code: precision_recall(y == k, top == k) for k, code in enumerate(CODES) if (y == k).any()},
        "inconsistent_at_bar": {
            code: precision_recall(y == CODES.index(code), p[:, CODES.index(code)] >= bars[code])
            for code in MI_INCONSISTENT
        },
    }
