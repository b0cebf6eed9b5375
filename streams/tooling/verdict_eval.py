"""``turnwatch eval --verdicts FILE``: reviewers' verdicts as an evaluation set.

``turnwatch verdicts export`` writes one JSON line per judged alert: the alert, the verdict, the
reviewer's note and the stored turns around it. Each example's turns run through the worker's
code again; an alert of the same rule whose turns overlap the judged alert's is "raised again".
Per rule:

- a true positive raised again is kept, one not raised again is lost (a regression);
- a false positive raised again remains, one not raised again is fixed;
- precision on the set = kept / (kept + remaining), the production precision the current code
  would have on what reviewers judged.

"unsure" verdicts are counted apart and not scored.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from streams.contracts import Alert, TurnEvent
from streams.runtime.ingest.files import Record
from streams.runtime.pipeline import Pipeline
from streams.tooling.scan import scan_records


def read_examples(path: Path) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["alert"] = Alert.model_validate(row["alert"])
            row["turns"] = [TurnEvent.model_validate(t) for t in row["turns"]]
            if row["verdict"] not in ("true_positive", "false_positive", "unsure"):
                raise ValueError(f"unknown verdict {row['verdict']!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a verdict example ({exc})") from None
        yield row


def raised_again(example: dict[str, Any], pipeline: Pipeline) -> bool:
    judged: Alert = example["alert"]
    turns = sorted(example["turns"], key=lambda t: t.turn_index)
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in turns]
    wanted = set(judged.turns)
    for result in scan_records(records, pipeline):
        for alert in result.alerts:
            if alert.rule == judged.rule and wanted & set(alert.turns):
                return True
    return False


def evaluate_verdicts(examples: Iterable[dict[str, Any]], pipeline: Pipeline) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for example in examples:
        rule = example["alert"].rule
        if example["verdict"] == "unsure":
            counts[rule]["unsure"] += 1
            continue
        again = raised_again(example, pipeline)
        outcome = {
            ("true_positive", True): "kept",
            ("true_positive", False): "lost",
            ("false_positive", True): "remaining",
            ("false_positive", False): "fixed",
        }[(example["verdict"], again)]
        counts[rule][outcome] += 1
    per_rule = {rule: _row(c) for rule, c in sorted(counts.items())}
    total = _row(sum(counts.values(), Counter()))
    return {"per_rule": per_rule, "total": total}


def _row(counts: Counter[str]) -> dict[str, Any]:
    kept, remaining = counts["kept"], counts["remaining"]
    row: dict[str, Any] = {k: counts[k] for k in ("kept", "lost", "remaining", "fixed", "unsure")}
    row["precision"] = round(kept / (kept + remaining), 3) if kept + remaining else None
    return row
