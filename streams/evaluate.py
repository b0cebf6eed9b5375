"""``turnwatch eval``: detection quality against labelled conversations, with the worker's code.

Labels are JSONL, one conversation a line, naming rules and inclusive turn ranges (no text):

    {"conversation_id": "c1", "expected": [{"rule": "crisis.passive_ideation", "turns": [8, 8]}]}

An alert matches a label of the same conversation and rule whose range overlaps the alert's
turns; each label matches at most once, and an episode (alert_id) counts once whatever its
severity upgrades. Unmatched alerts are false positives, unmatched labels false negatives.
Only conversations that have a labels line are scored ("expected": [] means nothing should fire).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from streams.contracts import Alert
from streams.ingest.files import read_records
from streams.pipeline import Pipeline
from streams.scan import scan_records


@dataclass
class Label:
    rule: str
    first: int
    last: int


@dataclass
class ConversationRun:
    conversation_id: str
    distress: list[tuple[int, float]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    turns: int = 0


def load_labels(paths: Iterable[Path]) -> dict[str, list[Label]]:
    labels: dict[str, list[Label]] = {}
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                labels[row["conversation_id"]] = [Label(e["rule"], int(e["turns"][0]), int(e["turns"][1])) for e in row["expected"]]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: bad label line ({exc})") from None
    return labels


def run_conversations(paths: Iterable[str | Path], pipeline: Pipeline, progress: Callable[[], None] = lambda: None) -> dict[str, ConversationRun]:
    runs: dict[str, ConversationRun] = {}
    for result in scan_records(read_records(paths), pipeline):
        progress()
        if result.event is None or not result.processed:
            continue
        run = runs.setdefault(result.event.conversation_id, ConversationRun(result.event.conversation_id))
        run.turns += 1
        if result.features.distress is not None:
            run.distress.append((result.event.turn_index, result.features.distress.score))
        run.alerts.extend(result.alerts)
    return runs


def _overlaps(alert: Alert, label: Label) -> bool:
    return any(label.first <= t <= label.last for t in alert.turns) or (
        min(alert.turns) <= label.last and max(alert.turns) >= label.first
    )


def score(runs: dict[str, ConversationRun], labels: dict[str, list[Label]]) -> dict[str, Any]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn per rule
    details = []
    for conversation_id, expected in labels.items():
        run = runs.get(conversation_id)
        if run is None:
            continue
        episodes: dict[str, Alert] = {}
        for alert in run.alerts:
            episodes.setdefault(alert.alert_id, alert)
        unmatched = list(expected)
        for alert in episodes.values():
            match = next((l for l in unmatched if l.rule == alert.rule and _overlaps(alert, l)), None)
            if match is not None:
                unmatched.remove(match)
                counts[alert.rule][0] += 1
            elif any(l.rule == alert.rule and _overlaps(alert, l) for l in expected):
                continue  # a second episode inside an already matched label: not an extra finding
            else:
                counts[alert.rule][1] += 1
                details.append({"conversation_id": conversation_id, "rule": alert.rule, "turns": alert.turns, "kind": "false_positive"})
        for label in unmatched:
            counts[label.rule][2] += 1
            details.append({"conversation_id": conversation_id, "rule": label.rule, "turns": [label.first, label.last],
                            "kind": "false_negative"})
    return {"per_rule": _table(counts), "per_detector": _table(_by_detector(counts)), "errors": details,
            "conversations": sorted(c for c in labels if c in runs)}


def _by_detector(counts: dict[str, list[int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rule, (tp, fp, fn) in counts.items():
        bucket = out[rule.split(".")[0]]
        bucket[0] += tp
        bucket[1] += fp
        bucket[2] += fn
    return out


def _table(counts: dict[str, list[int]]) -> dict[str, dict[str, float]]:
    table = {}
    for name, (tp, fp, fn) in sorted(counts.items()):
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[name] = {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3)}
    return table


SEVERITY_COLOURS = {"info": "#4c9be8", "warning": "#f0a202", "high": "#d1495b", "critical": "#6a040f"}


def plot_conversation(run: ConversationRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 3.2))
    if run.distress:
        xs, ys = zip(*run.distress)
        axis.plot(xs, ys, marker="o", color="#333333", linewidth=1.5, label="distress (patient turns)")
    seen = set()
    for alert in run.alerts:
        x = alert.turns[-1]
        label = alert.severity if alert.severity not in seen else None
        seen.add(alert.severity)
        axis.axvline(x, color=SEVERITY_COLOURS[alert.severity], alpha=0.55, linewidth=1.2, label=label)
        axis.text(x, 1.02, alert.rule.split(".")[1][:14], rotation=60, fontsize=6, ha="left", va="bottom")
    axis.set_ylim(0, 1)
    axis.set_xlim(-0.5, max(run.turns, 1))
    axis.set_xlabel("turn")
    axis.set_ylabel("distress")
    axis.set_title(f"{run.conversation_id}: {len(run.alerts)} alerts", fontsize=9, pad=56)
    axis.legend(loc="lower left", fontsize=6, ncol=5)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
