"""``turnwatch train --verdicts FILE --data DIR``: the counselling codes head retrained on the sentences
reviewers' verdicts code, checked on the held-out verdicts before a worker may use it.

Five therapist rules decide from one MITI code of one sentence of the answer (``RULE_CODES``): the
rule fired because the head read that sentence as the code. A verdict on such an alert therefore
labels that sentence: right to raise (true_positive, wrong_severity) confirms the code; a
false_positive says it is not that code, and the sentence takes the code the head finds most likely
among the others; a wrong_rule verdict gives it the most likely code of the rule the reviewer named
(and teaches nothing when that rule does not decide from codes). Identical sentences keep one label,
none when reviewers disagree. The sentence is the one the alert quotes from the answer (else the one
the head scores highest for the rule's codes), read against the patient turn the answer replies to,
as the worker reads it. Rules that decide from a whole answer (empathy, mirroring, form, boundaries)
give no sentence label; crisis alerts teach the crisis models (``verdict_crisis``).

Only the calibration part of the verdicts (``verdict_training.split``, by conversation) becomes
training sentences, each counted ``VERDICT_COPIES`` times beside the hand-coded train split (a
verdict is a label from the deployment itself). The held-out part is then run through the worker's
pipeline with the current head and with the new one (same thresholds), over every therapist rule
(the codes feed more rules than the five that teach). The new head is written only when no held-out
critical alert reviewers kept is lost, precision does not fall and recall falls by at most
``ADOPT_RECALL_LOSS``, and on the hand-coded blind split the mean F1 of the MI-inconsistent codes at
their bars falls by at most ``ADOPT_BLIND_LOSS``; otherwise the report says which check failed.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.encoder import Encoder
from detectors.therapist.codes import (
    CODES,
    DEFAULT_HEAD,
    MI_INCONSISTENT,
    CodesModel,
    answer_spans,
    sentence_embeddings,
)
from detectors.therapist.training import LabelledSentence, retrain_codes
from detectors.training.ensembles import MEMBERS
from streams.contracts import TurnEvent
from streams.monitor.build import build_pipeline
from streams.settings import Settings
from streams.tooling.verdict_eval import right_to_raise
from streams.tooling.verdict_sentences import agreed, check_family, quoted_span
from streams.tooling.verdict_training import split

RULE_CODES: dict[str, tuple[str, ...]] = {
    "therapist.harsh_or_shaming": ("shame", "confront"),
    "therapist.dismisses": ("minimise", "confront"),
    "therapist.advice_without_empathy": ("persuade",),
    "therapist.overrides_request": ("persuade", "persuade_with_permission"),
    "therapist.inconsistent_pattern": MI_INCONSISTENT,
}
VERDICT_COPIES = 3
ADOPT_RECALL_LOSS = 0.05
ADOPT_BLIND_LOSS = 0.02
HEAD_FILE = "counselling_head.npz"
VERDICT_GROUPS = 1_000_000  # cross-validation groups of verdict sentences start here (one per conversation)


def judged_answer(example: Mapping[str, Any]) -> tuple[TurnEvent, str] | None:
    """The AI answer a judged therapist alert is about (its latest therapist turn) and the patient turn
    it replies to (the latest before it), or None."""
    turns = sorted(example["turns"], key=lambda t: t.turn_index)
    judged = set(example["alert"].turns)
    answers = [t for t in turns if t.role == "therapist" and t.turn_index in judged]
    if not answers:
        return None
    answer = answers[-1]
    patient = [t.text for t in turns if t.role == "patient" and t.turn_index < answer.turn_index]
    return answer, patient[-1] if patient else ""


def coded_as(p: np.ndarray, example: Mapping[str, Any]) -> str | None:
    """The code a verdict gives the decisive sentence, whose code probabilities are ``p``; None when the
    verdict does not say (wrong_rule naming a rule that does not decide from codes)."""
    codes = RULE_CODES[example["alert"].rule]
    if right_to_raise(example):
        return max(codes, key=lambda code: p[CODES.index(code)])
    if example["verdict"] == "wrong_rule":
        named = RULE_CODES.get(example.get("corrected") or "")
        return max(named, key=lambda code: p[CODES.index(code)]) if named else None
    return max((code for code in CODES if code not in codes), key=lambda code: p[CODES.index(code)])


def decisive_sentence(
    example: Mapping[str, Any], answer: TurnEvent, spans: Sequence[tuple[int, int]], p: np.ndarray
) -> int:
    """Which sentence of ``answer`` the rule read: the one the alert quotes, else the one the head
    scores highest for the rule's codes."""
    text = answer.text
    quoted = quoted_span((e.quote for e in example["alert"].evidence if e.turn_index == answer.turn_index), text, spans)
    if quoted is not None:
        return quoted
    columns = [CODES.index(code) for code in RULE_CODES[example["alert"].rule]]
    return int(p[:, columns].max(axis=1).argmax())


def verdict_sentences(
    examples: Sequence[Mapping[str, Any]], model: CodesModel, encoder: Encoder
) -> list[LabelledSentence]:
    """Training sentences from the verdicts on rules in ``RULE_CODES`` (unsure ones left out)."""
    picked = []
    for example in examples:
        if example["alert"].rule not in RULE_CODES or right_to_raise(example) is None:
            continue
        found = judged_answer(example)
        if found is not None and answer_spans(found[0].text):
            picked.append((example, *found))
    if not picked:
        return []
    texts = [answer.text for _, answer, _ in picked]
    spans = [answer_spans(text) for text in texts]
    _, pooled = encoder.encode_with_spans(texts, spans)
    vectors = sentence_embeddings(texts, spans, pooled, encoder.encode)
    groups = {cid: VERDICT_GROUPS + k for k, cid in enumerate(sorted({e["alert"].conversation_id for e, *_ in picked}))}
    rows: list[LabelledSentence] = []
    for (example, answer, patient), text, found, embedded in zip(picked, texts, spans, vectors):
        p = model.probabilities(embedded, [text[a:b] for a, b in found], [patient] * len(found))
        decisive = decisive_sentence(example, answer, found, p)
        start, end = found[decisive]
        label = coded_as(p[decisive], example)
        if label is not None:
            group = groups[example["alert"].conversation_id]
            rows.append(LabelledSentence(text, start, end, label, "verdict", "train", patient, "plain", group))
    kept = agreed(rows, lambda row: (row.answer, row.start, row.end, row.patient), lambda row: row.label)
    return [row for row in kept for _ in range(VERDICT_COPIES)]


def inconsistent_f1(blind: Mapping[str, Any]) -> float:
    """Mean F1 over the MI-inconsistent codes at their bars, both blind sources pooled."""
    scores = []
    for code in MI_INCONSISTENT:
        tp, fp, fn = (
            sum(source["inconsistent_at_bar"][code][k] for source in blind.values()) for k in ("tp", "fp", "fn")
        )
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return round(float(np.mean(scores)), 4)


def adoption(checked: Mapping[str, Any], lost: int, before_f1: float, after_f1: float) -> tuple[bool, str]:
    """Whether the retrained head may be written: ``checked`` is the held-out check over the therapist
    rules, ``lost`` the critical alerts reviewers kept that it would no longer raise."""
    total = checked["total"]
    if not total["judged"]:
        return False, "no held-out verdict on a therapist rule: nothing to check the new head on"
    if lost:
        return False, f"{lost} held-out critical alert(s) reviewers kept would no longer be raised"
    before, after = total["before"], total["after"]
    precision_before, precision_after = before["precision"] or 0.0, after["precision"] or 0.0
    recall_before, recall_after = before["recall"] or 0.0, after["recall"] or 0.0
    if precision_after < precision_before:
        return False, f"held-out precision fell: {precision_before} -> {precision_after}"
    if recall_after < recall_before - ADOPT_RECALL_LOSS:
        return False, f"held-out recall fell by more than {ADOPT_RECALL_LOSS}: {recall_before} -> {recall_after}"
    if after_f1 < before_f1 - ADOPT_BLIND_LOSS:
        return False, f"hand-coded blind F1 of the MI-inconsistent codes fell: {before_f1} -> {after_f1}"
    return True, (
        f"held-out precision {precision_before} -> {precision_after}, recall {recall_before} -> {recall_after}; "
        f"blind F1 (MI-inconsistent) {before_f1} -> {after_f1}"
    )


def retrain_counselling_head(
    examples: Sequence[Mapping[str, Any]],
    settings: Settings,
    data_dir: Path,
    out: Path,
    *,
    min_scores: Mapping[str, float] | None = None,
    holdout: float,
    folds: int = 5,
    members: int = MEMBERS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The report's ``counselling`` entry; writes the head to ``out`` only when it is adopted.
    ``min_scores``: the rule thresholds both pipelines of the held-out check run with."""
    calibration, held = split(examples, holdout)
    base = Path(settings.counselling_head or DEFAULT_HEAD)
    encoder = Encoder()
    rows = verdict_sentences(calibration, CodesModel.load(base), encoder)
    if not rows:
        return {
            "adopted": False,
            "why": "no verdict on a rule the codes decide in the calibration part",
            "sentences": 0,
        }
    candidate = out.with_name(f".{out.stem}.candidate.npz")
    adopted = False
    try:
        report = retrain_codes(
            data_dir, rows, candidate, base, settings.data_dir / "cache", encoder, folds=folds, members=members, log=log
        )
        thresholds = dict(min_scores or {})
        before = build_pipeline(settings).with_min_scores(thresholds)
        after = build_pipeline(settings.model_copy(update={"counselling_head": candidate})).with_min_scores(thresholds)
        checked, lost = check_family(held, "therapist.", before, after)  # missed_crisis reads the codes too
        before_f1, after_f1 = inconsistent_f1(report["blind_before"]), inconsistent_f1(report["blind"])
        adopted, why = adoption(checked, lost, before_f1, after_f1)
        if adopted:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(candidate.with_suffix(".json"), out.with_suffix(".json"))
            shutil.move(candidate, out)
    finally:
        if not adopted:
            candidate.unlink(missing_ok=True)
            candidate.with_suffix(".json").unlink(missing_ok=True)
    return {
        "adopted": adopted,
        "why": why,
        "head": str(out) if adopted else None,
        "base": str(base),
        "sentences": len(rows) // VERDICT_COPIES,
        "sentences_by_code": {code: n // VERDICT_COPIES for code, n in report["verdict_sentences"].items()},
        "held_out": checked,
        "critical_lost": lost,
        "blind_inconsistent_f1": {"before": before_f1, "after": after_f1},
    }
