"""``turnwatch train --verdicts FILE``: per-rule score thresholds chosen from reviewers' verdicts.

The verdicts (a ``turnwatch verdicts export`` file) are split by conversation, by a stable hash of
its id, into a calibration part and a held-out part (``holdout``, 30 % by default), so that no
conversation informs the choice and its check at once.

On the calibration part each judged alert is run again through the worker's code, with no threshold,
and the alert it raises again (``verdict_eval.reraised``) gives its score. A verdict says whether the
alert was right to be raised under its rule (true_positive and wrong_severity: yes; false_positive
and wrong_rule: no; unsure: not used). Per rule, ``choose_threshold`` picks the lowest ``min_score``
at which the judged alerts scoring at least that much reach the target precision. A rule is left
alone, with the reason in the report, when:

- fewer than ``min_examples`` judged alerts of it are raised again (``too_few``);
- no threshold reaches the target: its score does not separate what reviewers kept from what they
  rejected (``unreachable``; the rule itself needs work, e.g. every finding of it scores 1.0);
- the threshold that would reach it keeps fewer than ``min_recall`` of its true alerts
  (``too_costly``: too many real alerts lost for the precision gained);
- its alerts page (``pages``): the pipeline never holds back a critical finding, so a threshold
  cannot change a page; how often reviewers judged its pages right is in the report, for whoever
  sets the crisis page thresholds (the judged pages of a rule that also raises lower severities are
  left out of its calibration the same way).

A rule left alone keeps the threshold it had in the worker's current file (``rule_thresholds``).
A rule whose precision already reaches the target without a threshold (``already_at_target``) needs
none, but only the alerts that were raised were judged: under a current ``min_score`` nothing below
it was, so the verdicts cannot show that lowering it is safe. Such a rule keeps its current
threshold, or goes down to its lowest judged score where the verdicts reach below it. The held-out
part is then run twice for real, under the current thresholds ("before") and the new ones ("after"):
per rule, precision (of the raised alerts reviewers judged, the share right to raise) and recall of
the true positives (of the alerts right to raise, the share raised; alerts the current code no
longer raises at all count as lost).

Severity is not adjusted: the wrong_severity corrections are counted per rule in the report
(``severity_corrections``), as are the rules named by wrong_rule verdicts (``corrected_rules``), for a
person to act on. With ``--data`` the heads are retrained too (``verdict_heads``, ``verdict_crisis``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streams.monitor.build import RuleThreshold
from streams.monitor.pipeline import Pipeline
from streams.tooling.verdict_eval import reraised, right_to_raise

DEFAULT_TARGET_PRECISION = 0.9
DEFAULT_MIN_EXAMPLES = 10
DEFAULT_MIN_RECALL = 0.5
DEFAULT_HOLDOUT = 0.3
THRESHOLDS_FILE = "rule_thresholds.json"

HEADS_NOTE = (
    "Thresholds only. With --data DIR the heads that verdicts label sentences for are retrained too, each "
    "written only if it holds up on the held-out verdicts: the counselling codes head (streams/tooling/"
    "verdict_heads.py) and the crisis sentence head with the conversation model over it (verdict_crisis.py)."
)


Pair = tuple[float, bool]  # (score of the re-raised alert, right to raise)


def held_out(conversation_id: str, fraction: float) -> bool:
    """Whether a conversation's verdicts are held out: a stable hash, the same on every run and machine."""
    digest = hashlib.sha256(conversation_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


@dataclass(frozen=True)
class ThresholdChoice:
    """What calibration decided for one rule; ``min_score`` None leaves the rule alone (already_at_target
    with no current threshold: needs none)."""

    min_score: float | None
    status: str  # calibrated | already_at_target | too_few | unreachable | too_costly | pages
    reason: str
    judged: int  # judged alerts of the rule the current code raises again (unsure ones left out)
    precision_before: float | None
    precision_after: float | None
    recall_after: float | None  # of the true alerts raised again, the share the threshold keeps


def precision_at(pairs: Sequence[Pair], threshold: float) -> float | None:
    kept = [right for score, right in pairs if score >= threshold]
    return sum(kept) / len(kept) if kept else None


def recall_at(pairs: Sequence[Pair], threshold: float) -> float | None:
    true = [score for score, right in pairs if right]
    return sum(score >= threshold for score in true) / len(true) if true else None


def choose_threshold(
    pairs: Sequence[Pair],
    target_precision: float,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    min_recall: float = DEFAULT_MIN_RECALL,
    current: float | None = None,
) -> ThresholdChoice:
    """The lowest score threshold at which the judged alerts scoring at least that much reach
    ``target_precision``; ``pairs`` are (score, right to raise) of one rule's judged alerts and
    ``current`` its min_score in force now, if any."""
    judged = len(pairs)
    before = precision_at(pairs, 0.0)

    def choice(min_score: float | None, status: str, reason: str) -> ThresholdChoice:
        after = before if min_score is None else precision_at(pairs, min_score)
        recall = recall_at(pairs, 0.0 if min_score is None else min_score)
        return ThresholdChoice(min_score, status, reason, judged, _round(before), _round(after), _round(recall))

    if before is None or judged < min_examples:
        return choice(
            None, "too_few", f"{judged} judged alerts raised again by the current code; {min_examples} needed"
        )
    if before >= target_precision:
        reached = f"precision {before:.3f} reaches {target_precision}"
        if current is None:
            return choice(None, "already_at_target", f"{reached} without one")
        lowest = min(score for score, _ in pairs)
        if lowest < current:
            return choice(
                lowest,
                "already_at_target",
                f"{reached} from the lowest judged score {lowest}: min_score {current} -> {lowest}",
            )
        return choice(
            current,
            "already_at_target",
            f"{reached}; min_score {current} kept: no judged alert scores below it, so the verdicts cannot show "
            "that lowering it is safe",
        )
    candidates = sorted({score for score, _ in pairs})
    for threshold in candidates:
        reached = precision_at(pairs, threshold)
        if reached is not None and reached >= target_precision:
            kept = recall_at(pairs, threshold) or 0.0
            if kept < min_recall:
                return choice(
                    None,
                    "too_costly",
                    f"min_score {threshold} reaches precision {reached:.3f} but keeps {kept:.3f} of the true "
                    f"alerts (at least {min_recall} wanted)",
                )
            return choice(threshold, "calibrated", f"min_score {threshold}: precision {before:.3f} -> {reached:.3f}")
    best = max(candidates, key=lambda t: (precision_at(pairs, t) or 0.0, -t))
    return choice(
        None,
        "unreachable",
        f"no score threshold reaches precision {target_precision} (best {precision_at(pairs, best) or 0.0:.3f} at "
        f"min_score {best}): the rule's score does not separate the alerts reviewers kept from those they rejected",
    )


def split(examples: Iterable[dict[str, Any]], holdout: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(calibration, held-out) by conversation."""
    calibration, held = [], []
    for example in examples:
        (held if held_out(example["alert"].conversation_id, holdout) else calibration).append(example)
    return calibration, held


def train_from_verdicts(
    examples: Sequence[dict[str, Any]],
    pipeline: Pipeline,
    *,
    current: Mapping[str, RuleThreshold] | None = None,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    min_recall: float = DEFAULT_MIN_RECALL,
    holdout: float = DEFAULT_HOLDOUT,
    now: datetime | None = None,
) -> tuple[dict[str, RuleThreshold], dict[str, Any]]:
    """(the new thresholds file's entries, the report). ``pipeline`` is the worker's; ``current`` the
    entries of the thresholds file it runs with now (kept for the rules calibration leaves alone)."""
    current = dict(current or {})
    made_at = now or datetime.now(UTC)
    calibration, held = split(examples, holdout)
    pairs: dict[str, list[Pair]] = defaultdict(list)
    pages: dict[str, list[Pair]] = defaultdict(list)  # critical: never held back, so not calibrated
    not_raised: Counter[str] = Counter()
    unthresholded = pipeline.with_min_scores({})
    for example in calibration:
        right = right_to_raise(example)
        if right is None:
            continue
        again = reraised(example, unthresholded)
        if again is None:
            not_raised[example["alert"].rule] += 1
        else:
            (pages if again.severity == "critical" else pairs)[example["alert"].rule].append((again.score, right))

    rules = sorted({example["alert"].rule for example in examples})
    choices = {
        rule: paging(pages[rule])
        if pages[rule] and not pairs[rule]
        else choose_threshold(
            pairs[rule],
            target_precision,
            min_examples,
            min_recall,
            current=current[rule].min_score if rule in current else None,
        )
        for rule in rules
    }
    thresholds = {rule: entry for rule, entry in current.items() if rule not in rules}
    for rule, choice in choices.items():
        kept = current.get(rule)
        if choice.min_score is not None and (
            choice.status == "calibrated" or kept is None or choice.min_score != kept.min_score
        ):
            thresholds[rule] = RuleThreshold(
                min_score=choice.min_score, trained_on=choice.judged, target_precision=target_precision, made_at=made_at
            )
        elif kept is not None:  # left alone, or at target under it: kept as it is
            thresholds[rule] = kept
    thresholds = dict(sorted(thresholds.items()))

    before = {rule: entry.min_score for rule, entry in current.items()}
    after = {rule: entry.min_score for rule, entry in thresholds.items()}
    unchanged = {rule for rule in rules if before.get(rule) == after.get(rule)}
    checked = check_held_out(held, pipeline.with_min_scores(before), pipeline.with_min_scores(after), unchanged)
    corrections = corrected(examples)
    report_rules = {}
    for rule in rules:
        row: dict[str, Any] = asdict(choices[rule])
        row["previous_min_score"] = before.get(rule)
        row["written_min_score"] = after.get(rule)
        row["not_raised_by_current_code"] = not_raised[rule]
        row["pages"] = len(pages[rule])
        row["held_out"] = checked["per_rule"].get(rule)
        row.update(corrections.get(rule, {}))
        report_rules[rule] = row
    report = {
        "target_precision": target_precision,
        "min_examples": min_examples,
        "min_recall": min_recall,
        "examples": len(examples),
        "unsure": sum(right_to_raise(e) is None for e in examples),
        "calibration": part_size(calibration),
        "held_out": {"fraction": holdout, **part_size(held), "total": checked["total"]},
        "rules": report_rules,
        "thresholds": {rule: entry.min_score for rule, entry in thresholds.items()},
        "kept_without_verdicts": sorted(rule for rule in current if rule not in rules),
        "heads": {"retrained": [], "why": HEADS_NOTE},
    }
    return thresholds, report


def paging(pairs: Sequence[Pair]) -> ThresholdChoice:
    """The choice for a rule whose judged alerts all page: left alone, its reviewers' precision reported."""
    precision = _round(precision_at(pairs, 0.0))
    return ThresholdChoice(
        None,
        "pages",
        "its alerts page (critical) and a rule threshold never holds back a page; the crisis page thresholds "
        "decide what pages",
        len(pairs),
        precision,
        precision,
        _round(recall_at(pairs, 0.0)),
    )


def check_held_out(
    held: Sequence[dict[str, Any]],
    before_pipeline: Pipeline,
    after_pipeline: Pipeline,
    unchanged: Collection[str] = frozenset(),
) -> dict[str, Any]:
    """Per rule and in total, precision and recall of the true positives on the held-out verdicts,
    under the pipeline before and after (a rule in ``unchanged``, e.g. whose threshold did not change,
    runs once)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for example in held:
        right = right_to_raise(example)
        if right is None:
            continue
        rule = example["alert"].rule
        raised_before = reraised(example, before_pipeline) is not None
        raised_after = raised_before if rule in unchanged else reraised(example, after_pipeline) is not None
        tally = counts[rule]
        tally["judged"] += 1
        tally["right_to_raise"] += right
        for when, raised in (("before", raised_before), ("after", raised_after)):
            tally[f"{when}_raised"] += raised
            tally[f"{when}_raised_right"] += raised and right
    per_rule = {rule: held_row(tally) for rule, tally in sorted(counts.items())}
    return {"per_rule": per_rule, "total": held_row(sum(counts.values(), Counter()))}


def held_row(tally: Counter[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"judged": tally["judged"], "right_to_raise": tally["right_to_raise"]}
    for when in ("before", "after"):
        raised, right = tally[f"{when}_raised"], tally[f"{when}_raised_right"]
        row[when] = {
            "raised": raised,
            "precision": _round(right / raised) if raised else None,
            "recall": _round(right / tally["right_to_raise"]) if tally["right_to_raise"] else None,
        }
    return row


def corrected(examples: Iterable[dict[str, Any]]) -> dict[str, dict[str, dict[str, int]]]:
    """Per rule, the severities wrong_severity verdicts named and the rules wrong_rule verdicts named."""
    found: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for example in examples:
        key = {"wrong_severity": "severity_corrections", "wrong_rule": "corrected_rules"}.get(example["verdict"])
        if key is not None and example.get("corrected"):
            found[example["alert"].rule][key][example["corrected"]] += 1
    return {rule: {key: dict(sorted(c.items())) for key, c in kinds.items()} for rule, kinds in found.items()}


def part_size(examples: Sequence[dict[str, Any]]) -> dict[str, int]:
    return {"conversations": len({e["alert"].conversation_id for e in examples}), "examples": len(examples)}


def write_thresholds(thresholds: Mapping[str, RuleThreshold], path: Path) -> Path:
    """Write the thresholds file whole (a temporary file renamed over it: a worker starting meanwhile
    reads the old file or the new one, never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {rule: entry.model_dump(mode="json", exclude_none=True) for rule, entry in sorted(thresholds.items())}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
