"""``turnwatch eval --dataset NAME PATH``: how often each rule fires on real text nobody here wrote.

Datasets, each read as the worker would see it (every text a turn through the same pipeline):

- ``counsel-chat`` (``counsel_chat.csv``): each help-seeker's question (title + text) is one
  patient turn; each licensed therapist's answer is a therapist turn replying to its question.
  ``--split holdout`` (default) keeps the seeded 25 % of questions the crisis head never saw.
  Questions whose topic is not about risk (everything but self-harm, depression, trauma,
  domestic violence, substance use, grief, eating disorders) give the false-page floor:
  a critical crisis page there is almost surely wrong.
- ``sdcnl`` (``training-set.csv``): each post is a patient turn; ``is_suicide`` (r/SuicideWatch)
  gives post-level recall and precision of a crisis page, and the r/depression page rate.
  ``--split holdout`` (default) scores only the seeded 20 % the crisis head never trained on.
- ``goemotions`` (a ``.tsv`` or the directory's ``test.tsv``): each Reddit comment is a
  patient turn; no risk labels, a rate on everyday emotional text.

Reported per rule: alerts, the severity split, alerts per 100 turns of the rule's role, and
precision/recall where labels exist; per group, how many patient turns score distress ≥ 0.6
and ≥ 0.8 (the distress rules need several patient turns, so on single-turn data this share is
the per-turn floor of their rate). Counts only, never text.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from detectors.crisis.conversation import ConversationEvidence
from detectors.crisis.training import POSTS_SET
from detectors.findings import SEVERITY_NAMES
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.pipeline import Pipeline

DATASETS = ("counsel-chat", "sdcnl", "goemotions")
LEVELS = ("none", "supportive", "past_only", "indicator", "ideation", "behavior", "attempt")
RISK_LEVELS = ("ideation", "behavior", "attempt")
RISK_TOPICS = {
    "self-harm",
    "depression",
    "trauma",
    "domestic-violence",
    "substance-abuse",
    "addiction",
    "grief-and-loss",
    "eating-disorders",
}
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Turn:
    conversation_id: str
    role: str
    text: str
    group: str = ""  # e.g. a counsel-chat topic bucket or an SDCNL label
    scored: bool = True  # False: context only (the question an answer replies to)


@dataclass
class DatasetReport:
    dataset: str
    turns: Counter = field(default_factory=Counter)  # by role
    by_rule: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # rule -> severity counts
    rule_role: dict[str, str] = field(default_factory=dict)
    groups: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # group -> {"turns", "paged", ...}
    rejected: Counter = field(default_factory=Counter)  # dead-letter reason -> turns the worker would not score
    risk: list[dict[str, Any]] = field(default_factory=list)  # per scored patient turn: crisis scores and label
    thresholds: dict[str, float] = field(default_factory=dict)  # the conversation model's page and review

    def per_100(self, rule: str) -> float:
        turns = self.turns[self.rule_role.get(rule, "patient")]
        return round(100 * sum(self.by_rule[rule].values()) / max(turns, 1), 2)

    def critical_per_100(self, rule: str) -> float:
        turns = self.turns[self.rule_role.get(rule, "patient")]
        return round(100 * self.by_rule[rule]["critical"] / max(turns, 1), 2)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "turns": dict(self.turns),
            "rules": {
                rule: {
                    "alerts": sum(c.values()),
                    "by_severity": dict(c),
                    "per_100_turns": self.per_100(rule),
                    "critical_per_100_turns": self.critical_per_100(rule),
                    "role": self.rule_role.get(rule),
                }
                for rule, c in sorted(self.by_rule.items())
            },
            "groups": {g: dict(c) for g, c in sorted(self.groups.items())},
            "labelled": self.labelled(),
            "rejected": dict(self.rejected),
            "crisis_ranking": self.crisis_ranking(),
        }

    def crisis_ranking(self) -> dict[str, Any]:
        """Against the hand labels of ``detectors/crisis/labelled/posts_real.jsonl``: how well the
        conversation risk orders the writer's own risk (ideation or worse) above the rest, what its page
        and review thresholds and the worker's page (sentence or conversation) buy, and the page rate per
        labelled level (as clinicians grade posts)."""
        from sklearn.metrics import average_precision_score, roc_auc_score

        labelled = [r for r in self.risk if r["level"] is not None]
        if not labelled:
            return {}
        truth = np.array([r["level"] in RISK_LEVELS for r in labelled])
        risk = np.array([r["risk"] for r in labelled])
        paged = np.array([r["paged"] for r in labelled])
        out: dict[str, Any] = {"n": len(labelled), "risk": int(truth.sum())}
        if 0 < truth.sum() < len(truth):
            out["auc"] = round(float(roc_auc_score(truth, risk)), 4)
            out["pr_auc"] = round(float(average_precision_score(truth, risk)), 4)
        for name, flagged in (
            ("conversation_page", risk >= self.thresholds.get("page", 1.0)),
            ("conversation_review", risk >= self.thresholds.get("review", 1.0)),
            ("worker_page", paged),
        ):
            tp, fp = int((flagged & truth).sum()), int((flagged & ~truth).sum())
            out[name] = {
                "precision": round(tp / max(tp + fp, 1), 4),
                "recall": round(tp / max(int(truth.sum()), 1), 4),
                "flagged": int(flagged.sum()),
            }
        out["worker_page_rate_by_level"] = {
            level: round(float(np.mean([r["paged"] for r in labelled if r["level"] == level])), 4)
            for level in LEVELS
            if any(r["level"] == level for r in labelled)
        }
        return out

    def labelled(self) -> dict[str, Any]:
        """Post-level precision/recall of a crisis page where the dataset has labels (SDCNL)."""
        if self.dataset != "sdcnl":
            return {}
        pos, neg = self.groups.get("suicidewatch", Counter()), self.groups.get("depression", Counter())
        out: dict[str, Any] = {}
        for what in ("paged", "paged_or_review"):
            tp, fp = pos[what], neg[what]
            out[what] = {
                "recall_on_suicidewatch": round(tp / max(pos["turns"], 1), 4),
                "precision_vs_depression": round(tp / max(tp + fp, 1), 4),
                "depression_flag_rate": round(fp / max(neg["turns"], 1), 4),
            }
        return out


def read_dataset(name: str, path: Path, split: str = "holdout") -> Iterator[Turn]:
    path = Path(path)
    csv.field_size_limit(10**8)
    if name == "counsel-chat":
        if path.is_dir():
            path = path / "counsel_chat.csv"
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        seen: set[str] = set()
        wanted_questions: set[str] | None = None
        if split == "holdout":
            from detectors.crisis.training import counsel_chat_holdout

            wanted_questions = counsel_chat_holdout([row["questionID"] for row in rows])
        for number, row in enumerate(rows):
            if wanted_questions is not None and row["questionID"] not in wanted_questions:
                continue
            question = f"{row['questionTitle']}\n{row['questionText']}".strip()
            group = "risk_topic" if row["topic"] in RISK_TOPICS else "other_topic"
            first = row["questionID"] not in seen
            seen.add(row["questionID"])
            conversation = f"cc-{row['questionID']}-{number}"
            yield Turn(conversation, "patient", question, group, scored=first)
            if row["answerText"].strip():
                yield Turn(conversation, "therapist", row["answerText"], group)
    elif name == "sdcnl":
        if path.is_dir():
            path = path / "training-set.csv"
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        wanted: set[int] | None = None
        if split == "holdout":
            from detectors.crisis.training import sdcnl_split

            wanted = {int(i) for i in sdcnl_split(len(rows))[1]}
        for number, row in enumerate(rows):
            if wanted is None or number in wanted:
                group = "suicidewatch" if row["is_suicide"] == "1" else "depression"
                yield Turn(f"sdcnl-{number}", "patient", f"{row['title']}\n{row['selftext']}".strip(), group)
    elif name == "goemotions":
        if path.is_dir():
            path = path / "test.tsv"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            text = line.split("\t", 1)[0]
            if text.strip():
                yield Turn(f"goemotions-{number}", "patient", text)
    else:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")


def _event(turn: Turn, index: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"{turn.conversation_id}-{index}",
            "conversation_id": turn.conversation_id,
            "turn_index": index,
            "role": turn.role,
            "text": turn.text,
            "ts": START.isoformat(),
            "meta": {},
        }
    ).encode()


def evaluate_dataset(
    name: str,
    path: Path,
    pipeline: Pipeline,
    split: str = "holdout",
    progress: Callable[[int], None] = lambda n: None,
    batch_size: int = 64,
) -> DatasetReport:
    """Run every turn of the dataset through ``pipeline`` and count alerts per rule."""
    report = DatasetReport(name)
    crisis = next((d for d in pipeline.detectors if d.name == "crisis"), None)
    model = getattr(crisis, "conversation_model", None)
    if model is not None:
        report.thresholds = {"page": model.page, "review": model.review}
    levels = post_levels()
    for detector in pipeline.detectors:
        for rule in detector.rules:
            therapist = detector.name == "therapist" or rule == "loop.therapist_template"
            report.rule_role[rule] = "therapist" if therapist else "patient"
    turns = list(read_dataset(name, path, split))
    indices: dict[str, int] = {}
    numbered = []
    for turn in turns:
        index = indices.get(turn.conversation_id, -1) + 1
        indices[turn.conversation_id] = index
        numbered.append((turn, index))
    store = ConversationStore()
    for start in range(0, len(numbered), batch_size):
        chunk = numbered[start : start + batch_size]
        prepared = pipeline.prepare([_event(t, i) for t, i in chunk], store)
        for (turn, _), item in zip(chunk, prepared):
            result = pipeline.step(store, item)
            if result.dead_letter is not None:  # e.g. a post over max_text_bytes: the worker would dead-letter it too
                report.rejected[result.dead_letter.reason] += 1
                continue
            if not turn.scored:
                continue
            report.turns[turn.role] += 1
            group = report.groups[turn.group or "all"]
            group[f"{turn.role}_turns" if turn.role != "patient" else "turns"] += 1
            distress = result.features.distress
            if distress is not None:  # single turns cannot form a trajectory: the share of high turns is the floor
                group["distress_high"] += distress.score >= 0.6
                group["distress_very_high"] += distress.score >= 0.8
            signals = result.features.crisis
            if turn.role == "patient" and signals is not None:
                crisis = [a for a in result.alerts if a.detector == "crisis"]
                paged = any(a.severity == "critical" for a in crisis)
                group["paged"] += paged
                group["paged_or_review"] += paged or any(a.rule == "crisis.possible" for a in crisis)
                if model is not None:
                    report.risk.append(
                        {
                            "conversation": turn.conversation_id,
                            "group": turn.group,
                            "level": levels.get(post_ref(turn.conversation_id)),
                            "risk": round(model.probability(memory_of(store, turn.conversation_id).values()), 4),
                            "paged": paged,
                        }
                    )
            for alert in result.alerts:
                report.by_rule[alert.rule][alert.severity] += 1
                if alert.severity == "critical":
                    group[f"critical_{turn.role}"] += 1
        progress(len(chunk))
    return report


def memory_of(store: ConversationStore, conversation_id: str) -> ConversationEvidence:
    return ConversationEvidence.from_dict(store.heads[conversation_id].get("memory", {}).get("crisis", {}))


def post_ref(conversation_id: str) -> str:
    """The labelled post a dataset conversation is (``sdcnl-12`` → ``sdcnl:12``, ``cc-40-3`` → ``cc:40``)."""
    source, number = conversation_id.split("-")[:2]
    return f"{source}:{number}"


def post_levels() -> dict[str, str]:
    """Hand-labelled level of every SDCNL post and counsel-chat question."""
    return {item["ref"]: item["level"] for item in map(json.loads, POSTS_SET.read_text().splitlines())}


def plot_precision_recall(report: DatasetReport, path: Path) -> Path | None:
    """The precision/recall curve of the conversation risk against the hand labels, with the page and
    review thresholds and the worker's page marked; None when the data set has no such labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from sklearn.metrics import precision_recall_curve

    labelled = [r for r in report.risk if r["level"] is not None]
    truth = np.array([r["level"] in RISK_LEVELS for r in labelled])
    if not labelled or truth.all() or not truth.any():
        return None
    risk = np.array([r["risk"] for r in labelled])
    precision, recall, _ = precision_recall_curve(truth, risk)
    figure = Figure(figsize=(7, 5), dpi=120)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    axis.plot(recall, precision, color="#1f4e79", linewidth=1.8, label="conversation risk, every threshold")
    for name, marker, colour in (("page", "o", "#b00020"), ("review", "s", "#e08a00")):
        threshold = report.thresholds[name]
        flagged = risk >= threshold
        p = float((flagged & truth).sum() / max(flagged.sum(), 1))
        r = float((flagged & truth).sum() / truth.sum())
        axis.plot(
            [r],
            [p],
            marker=marker,
            markersize=9,
            color=colour,
            linestyle="None",
            label=f"{name} threshold {threshold:.2f}: P {p:.2f}, R {r:.2f}",
        )
    paged = np.array([r["paged"] for r in labelled])
    p = float((paged & truth).sum() / max(paged.sum(), 1))
    r = float((paged & truth).sum() / truth.sum())
    axis.plot(
        [r],
        [p],
        marker="*",
        markersize=13,
        color="#000000",
        linestyle="None",
        label=f"worker's critical pages (a sentence or the conversation): P {p:.2f}, R {r:.2f}",
    )
    axis.set_xlabel("recall: share of writers at risk (ideation or worse, hand labels) paged")
    axis.set_ylabel("precision: share of pages that are at risk")
    axis.set_xlim(0, 1.02)
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    axis.set_title(
        f"{report.dataset}: crisis risk against hand labels ({len(labelled)} posts, {int(truth.sum())} at risk)"
    )
    axis.legend(loc="lower left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def severity_columns() -> tuple[str, ...]:
    return tuple(reversed(SEVERITY_NAMES))
