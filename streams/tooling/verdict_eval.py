"""``turnwatch eval --verdicts FILE``: reviewers' verdicts as an evaluation set.

``turnwatch verdicts export`` writes one JSON line per judged alert: the alert, the verdict, who gave
it and when, the reviewer's note, the corrected severity or rule, and the stored turns around it.
Each example's turns run through the worker's code again; an alert of the same rule whose turns
overlap the judged alert's is "raised again". What a verdict says about raising the alert under
its rule:

- ``true_positive``: right to raise;
- ``wrong_severity``: right to raise (the rule saw what it looks for) at the wrong severity;
- ``false_positive``: wrong to raise;
- ``wrong_rule``: wrong to raise under this rule (something else was there, named in ``corrected``);
- ``unsure``: counted apart and not scored.

Per rule, an example that was right to raise and is raised again is kept, one not raised again is
lost (a regression); one that was wrong to raise and is raised again remains, one not raised again
is fixed. Precision on the set = kept / (kept + remaining), the production precision the current
code would have on what reviewers judged. ``severity_fixed`` counts the wrong_severity examples
raised again at the severity the reviewer named. Files exported before the corrected verdicts
existed (no reviewer, time or correction) read the same way.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from streams.contracts import Alert, TurnEvent
from streams.ingest.files import Record
from streams.monitor.pipeline import Pipeline
from streams.tooling.scan import scan_records
from streams.vocabulary import CORRECTED_VERDICTS, VERDICTS

RIGHT_TO_RAISE = ("true_positive", "wrong_severity")
WRONG_TO_RAISE = ("false_positive", "wrong_rule")
OPTIONAL_FIELDS = ("corrected", "reviewer", "judged_at")


def read_examples(path: Path) -> Iterator[dict[str, Any]]:
    """The examples of an export file, validated; ValueError names the file and line of a bad one."""
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["alert"] = Alert.model_validate(row["alert"])
            row["turns"] = [TurnEvent.model_validate(t) for t in row["turns"]]
            if row["verdict"] not in VERDICTS:
                raise ValueError(f"unknown verdict {row['verdict']!r}")
            for key in OPTIONAL_FIELDS:
                row.setdefault(key, None)
            row.setdefault("note", "")
            if row["verdict"] not in CORRECTED_VERDICTS:
                row["corrected"] = None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a verdict example ({exc})") from None
        yield row


def right_to_raise(example: dict[str, Any]) -> bool | None:
    """Whether reviewers say the alert should have been raised under its rule; None for unsure."""
    verdict = example["verdict"]
    return True if verdict in RIGHT_TO_RAISE else False if verdict in WRONG_TO_RAISE else None


def reraised(example: dict[str, Any], pipeline: Pipeline) -> Alert | None:
    """The alert the pipeline raises again for a judged one (same rule, overlapping turns; the
    highest-scoring if several), or None."""
    judged: Alert = example["alert"]
    turns = sorted(example["turns"], key=lambda t: t.turn_index)
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in turns]
    wanted = set(judged.turns)
    found = [
        alert
        for result in scan_records(records, pipeline)
        for alert in result.alerts
        if alert.rule == judged.rule and wanted & set(alert.turns)
    ]
    return max(found, key=lambda a: a.score, default=None)


def raised_again(example: dict[str, Any], pipeline: Pipeline) -> bool:
    return reraised(example, pipeline) is not None


def evaluate_verdicts(examples: Iterable[dict[str, Any]], pipeline: Pipeline) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for example in examples:
        rule, verdict = example["alert"].rule, example["verdict"]
        right = right_to_raise(example)
        if right is None:
            counts[rule]["unsure"] += 1
            continue
        if verdict in CORRECTED_VERDICTS:
            counts[rule][verdict] += 1
        again = reraised(example, pipeline)
        outcome = {
            (True, True): "kept",
            (True, False): "lost",
            (False, True): "remaining",
            (False, False): "fixed",
        }[(right, again is not None)]
        counts[rule][outcome] += 1
        if verdict == "wrong_severity" and again is not None and again.severity == example.get("corrected"):
            counts[rule]["severity_fixed"] += 1
    per_rule = {rule: _row(c) for rule, c in sorted(counts.items())}
    total = _row(sum(counts.values(), Counter()))
    return {"per_rule": per_rule, "total": total}


COLUMNS = ("kept", "lost", "remaining", "fixed", "unsure", "wrong_severity", "severity_fixed", "wrong_rule")


def _row(counts: Counter[str]) -> dict[str, Any]:
    kept, remaining = counts["kept"], counts["remaining"]
    row: dict[str, Any] = {k: counts[k] for k in COLUMNS}
    row["precision"] = round(kept / (kept + remaining), 3) if kept + remaining else None
    return row
