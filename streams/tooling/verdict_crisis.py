"""``turnwatch train --verdicts FILE --data DIR``: the crisis sentence head (and the conversation model
stacked on it) retrained on the patient sentences reviewers' verdicts label, adopted only if it holds
up on the held-out verdicts and on the real hand-labelled hold-outs.

A crisis alert raised from one sentence (a page of one C-SSRS step, ``crisis.possible``, ``crisis.history``:
``SENTENCE_RULES``) quotes that sentence from its latest patient turn, so its verdict labels it:

- right to raise (true_positive, wrong_severity): the step the rule names (``history`` for
  crisis.history; for crisis.possible the current kind the head finds most likely);
- false_positive: ``none`` (not the writer's own current risk);
- wrong_rule naming another sentence rule: that rule's class; naming anything else (a cumulative page,
  a therapist rule): no label, since the reviewer did not say what the sentence is.

``crisis.cumulative_risk`` teaches nothing: it rests on many sentences, and a verdict does not say
which was misread; nor does a review item or past risk whose evidence spans several turns. Only the
calibration part becomes training sentences, once per distinct sentence (the sentence head's folds are
not grouped, so copies would leak across them; a sentence reviewers labelled two ways is left out).
The sentence head is refitted with the model the current head chose and its page/review thresholds
re-derived as ``turnwatch train crisis`` does (the verdict sentences train it but do not set the
thresholds: they are sentences that already fired); the conversation model is retrained over it
(stacked, as there). The held-out verdicts of every crisis rule, cumulative pages included, then run
through the worker's pipeline with the current and the new models. Adopted only when no held-out page
reviewers kept is lost, held-out precision and recall do not fall, and on the real hold-outs the
sentence head's blind AUC and the conversation model's SDCNL AUC fall by at most ``MAX_AUC_LOSS``, its
SDCNL page recall does not fall, and its counsel-chat false pages rise by at most
``MAX_FALSE_PAGE_RISE`` per 100 calm questions. The current models' real hold-out numbers are read
from their training reports: the data files are pinned by digest and training uses the same encoder,
so they are what a recomputation would give.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.crisis.conversation import DEFAULT_MODEL as DEFAULT_CONVERSATION_MODEL
from detectors.crisis.conversation_training import train_conversation
from detectors.crisis.detector import HISTORY, KIND_RULES, POSSIBLE
from detectors.crisis.sentence_head import CLASSES, DEFAULT_HEAD, CrisisRiskModel, candidate_spans
from detectors.crisis.training import Labelled, train_crisis_risk
from detectors.encoder import Encoder
from detectors.training.ensembles import MEMBERS
from streams.monitor.build import build_pipeline
from streams.settings import Settings
from streams.tooling.verdict_eval import right_to_raise
from streams.tooling.verdict_sentences import agreed, check_family, quoted_span
from streams.tooling.verdict_training import split

SENTENCE_RULES: dict[str, str | None] = {
    **{rule: kind for kind, (rule, _) in KIND_RULES.items()},
    HISTORY: "history",
    POSSIBLE: None,  # the current kind the head finds most likely
}
HEAD_FILE = "crisis_head.npz"
CONVERSATION_FILE = "crisis_conversation.json"
MAX_AUC_LOSS = 0.005
MAX_FALSE_PAGE_RISE = 0.5


def quoted_sentence(example: Mapping[str, Any]) -> str | None:
    """The candidate sentence (as the head reads it, case kept) the alert quotes from its latest
    patient turn, or None: the quote matches none of them (e.g. redacted), or a review item or past
    risk rests on evidence from several turns (the conversation model raised it)."""
    alert = example["alert"]
    latest = max(alert.turns)
    if alert.rule in (POSSIBLE, HISTORY) and any(e.turn_index != latest for e in alert.evidence):
        return None
    turn = next((t for t in example["turns"] if t.turn_index == latest and t.role == "patient"), None)
    if turn is None:
        return None
    candidates = candidate_spans(turn.text)
    spans = [(start, end) for start, end, _ in candidates]
    found = quoted_span((e.quote for e in alert.evidence if e.turn_index == latest), turn.text, spans)
    return None if found is None else candidates[found][2]


def labelled_class(example: Mapping[str, Any], p: np.ndarray) -> str | None:
    """The class a verdict gives its quoted sentence (``p``: the head's probabilities for it), or None."""
    rule = example["alert"].rule
    if right_to_raise(example):
        named: str | None = rule
    elif example["verdict"] == "wrong_rule":
        named = example.get("corrected")
        if named not in SENTENCE_RULES:
            return None
    else:
        return "none"
    kind = SENTENCE_RULES[named]
    return kind if kind is not None else CLASSES[2 + int(np.argmax(p[2:]))]


def crisis_verdict_sentences(
    examples: Sequence[Mapping[str, Any]], head: CrisisRiskModel, encoder: Encoder
) -> list[Labelled]:
    picked = []
    for example in examples:
        if example["alert"].rule in SENTENCE_RULES and right_to_raise(example) is not None:
            sentence = quoted_sentence(example)
            if sentence is not None:
                picked.append((example, sentence))
    if not picked:
        return []
    sentences = [sentence for _, sentence in picked]
    probabilities = head.probabilities(encoder.encode(sentences), sentences)
    rows = []
    for (example, sentence), p in zip(picked, probabilities):
        target = labelled_class(example, p)
        if target is None:
            continue
        own = target != "none"
        stance, when = ("first_person", "past" if target == "history" else "current") if own else ("none", "current")
        rows.append(Labelled(sentence, target, target if own else "none", stance, when, "verdict", "train"))
    return agreed(rows, lambda row: row.text, lambda row: row.target)


def real_holdouts(head_file: Path, conversation_file: Path) -> dict[str, float]:
    """The numbers the adoption checks compare, from the models' training reports."""
    sentence = json.loads(head_file.with_suffix(".json").read_text())["blind"]
    conversation = json.loads(conversation_file.read_text())["blind"]
    return {
        "sentence_blind_auc": sentence["auc"],
        "sdcnl_auc": conversation["sdcnl"]["auc"],
        "sdcnl_page_recall": conversation["sdcnl"]["page"]["recall"],
        "cc_false_pages_per_100": conversation["cc"]["false_pages_per_100_calm_questions"],
    }


def adoption(
    checked: Mapping[str, Any], lost: int, before: Mapping[str, float], after: Mapping[str, float]
) -> tuple[bool, str]:
    """Whether the retrained models may be written: ``checked`` is the held-out check over every crisis
    rule, ``lost`` the held-out pages reviewers kept that they would no longer raise."""
    total = checked["total"]
    if not total["judged"]:
        return False, "no held-out verdict on a crisis rule: nothing to check the new models on"
    if lost:
        return False, f"{lost} held-out page(s) reviewers kept would no longer be raised"
    held_before, held_after = total["before"], total["after"]
    if (held_after["precision"] or 0.0) < (held_before["precision"] or 0.0):
        return False, f"held-out precision fell: {held_before['precision']} -> {held_after['precision']}"
    if (held_after["recall"] or 0.0) < (held_before["recall"] or 0.0):
        return False, f"held-out recall fell: {held_before['recall']} -> {held_after['recall']}"
    for key, worst in (
        ("sentence_blind_auc", before["sentence_blind_auc"] - MAX_AUC_LOSS),
        ("sdcnl_auc", before["sdcnl_auc"] - MAX_AUC_LOSS),
        ("sdcnl_page_recall", before["sdcnl_page_recall"]),
    ):
        if after[key] < worst:
            return False, f"{key} on the real hold-out fell: {before[key]} -> {after[key]}"
    if after["cc_false_pages_per_100"] > before["cc_false_pages_per_100"] + MAX_FALSE_PAGE_RISE:
        return False, (
            f"counsel-chat false pages per 100 calm questions rose: {before['cc_false_pages_per_100']} -> "
            f"{after['cc_false_pages_per_100']}"
        )
    return True, (
        f"held-out precision {held_before['precision']} -> {held_after['precision']}, recall "
        f"{held_before['recall']} -> {held_after['recall']}; real hold-outs held"
    )


def retrain_crisis_heads(
    examples: Sequence[Mapping[str, Any]],
    settings: Settings,
    data_dir: Path,
    out_dir: Path,
    *,
    min_scores: Mapping[str, float] | None = None,
    holdout: float,
    folds: int = 5,
    members: int = MEMBERS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The report's ``crisis`` entry; writes ``HEAD_FILE`` and ``CONVERSATION_FILE`` into ``out_dir``
    only when adopted."""
    calibration, held = split(examples, holdout)
    base_head = Path(settings.crisis_head or DEFAULT_HEAD)
    base_conversation = Path(settings.crisis_conversation_model or DEFAULT_CONVERSATION_MODEL)
    encoder = Encoder()
    rows = crisis_verdict_sentences(calibration, CrisisRiskModel.load(base_head), encoder)
    if not rows:
        return {"adopted": False, "why": "no verdict labels a crisis sentence in the calibration part", "sentences": 0}
    out_dir.mkdir(parents=True, exist_ok=True)
    head, conversation = out_dir / f".candidate-{HEAD_FILE}", out_dir / f".candidate-{CONVERSATION_FILE}"
    candidates = {
        HEAD_FILE: head,
        Path(HEAD_FILE).with_suffix(".json").name: head.with_suffix(".json"),
        CONVERSATION_FILE: conversation,
    }
    chosen = json.loads(base_head.with_suffix(".json").read_text())["model"]
    cache = settings.data_dir / "cache"
    adopted = False
    try:
        train_crisis_risk(
            data_dir,
            cache,
            encoder,
            head,
            log,
            extra=rows,
            model=(chosen["kind"], chosen["strength"]),
            folds=folds,
            members=members,
        )
        train_conversation(
            data_dir,
            CrisisRiskModel.load(head),
            cache,
            encoder,
            conversation,
            log,
            extra=rows,
            head_file=base_head,
            members=members,
        )
        thresholds = dict(min_scores or {})
        before = build_pipeline(settings).with_min_scores(thresholds)
        candidate = settings.model_copy(update={"crisis_head": head, "crisis_conversation_model": conversation})
        after = build_pipeline(candidate).with_min_scores(thresholds)
        checked, lost = check_family(held, "crisis.", before, after)  # cumulative pages too
        real = {"before": real_holdouts(base_head, base_conversation), "after": real_holdouts(head, conversation)}
        adopted, why = adoption(checked, lost, real["before"], real["after"])
        if adopted:
            for name, path in candidates.items():
                shutil.move(path, out_dir / name)
    finally:
        if not adopted:
            for path in candidates.values():
                path.unlink(missing_ok=True)
    return {
        "adopted": adopted,
        "why": why,
        "head": str(out_dir / HEAD_FILE) if adopted else None,
        "conversation_model": str(out_dir / CONVERSATION_FILE) if adopted else None,
        "base": {"head": str(base_head), "conversation_model": str(base_conversation)},
        "sentences": len(rows),
        "sentences_by_class": {c: n for c in CLASSES if (n := sum(r.target == c for r in rows))},
        "held_out": checked,
        "pages_lost": lost,
        "real_holdouts": real,
    }
