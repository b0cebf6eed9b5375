"""``turnwatch eval --behaviours``: the therapist rules on the blind counselling set.

Each blind written sentence (``detectors/therapist/labelled/counselling_written.jsonl``, split ``blind``,
never trained on) becomes a short conversation: the patient message it answers, then the
sentence as the therapist's answer. A role-play line gets the patient's request for the
role-play first when their message does not already ask for it. The whole pipeline runs on it
(encoder, heads, every detector), and each rule is scored against the behaviour the sentence
was labelled with:

- ``therapist.harsh_or_shaming`` should fire on ``blaming_shaming`` and nothing else;
- ``therapist.advice_without_empathy`` may fire only on ``directing`` (it also needs a patient
  who voiced feelings and no acknowledgment, so its recall is bounded by those);
- no therapist rule should fire on the consistent behaviours (reflection, empathy, questions,
  information, hedged suggestions...): reported as false alerts per 100 consistent answers.

(This set keeps the earlier behaviour labels; the codes head reads them mapped onto MITI codes,
``detectors.therapist.training.OLD_LABELS``.)
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from detectors.therapist.context import roleplay_requested
from detectors.therapist.training import OLD_WRITTEN_SET as WRITTEN_SET
from detectors.training.ensembles import precision_recall
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.pipeline import Pipeline
from streams.tooling.realdata import Turn, _event

ROLEPLAY_REQUEST = "Can we do a role-play? Please be the person I told you about and say what they would say to me."
CONSISTENT = (
    "reflection",
    "empathy",
    "affirmation",
    "open_question",
    "closed_question",
    "permission_seeking",
    "information",
    "suggestion",
    "neutral",
)
RULE_TRUTH = {"therapist.harsh_or_shaming": ("blaming_shaming",), "therapist.advice_without_empathy": ("directing",)}


def blind_items(path: Path = WRITTEN_SET) -> list[dict[str, Any]]:
    return [item for line in path.read_text().splitlines() if (item := json.loads(line))["split"] == "blind"]


def conversation_of(number: int, item: dict[str, Any]) -> list[Turn]:
    conversation = f"blind-{number}"
    turns = []
    if item.get("context") == "roleplay" and not roleplay_requested(item["patient"]):
        turns += [
            Turn(conversation, "patient", ROLEPLAY_REQUEST, scored=False),
            Turn(conversation, "therapist", "Okay, I will play them now.", scored=False),
        ]
    return [
        *turns,
        Turn(conversation, "patient", item["patient"], scored=False),
        Turn(conversation, "therapist", item["text"], group=item["label"]),
    ]


def evaluate_behaviours(pipeline: Pipeline, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    items = blind_items() if items is None else items
    raised: dict[int, set[str]] = defaultdict(set)
    store = ConversationStore()
    for number, item in enumerate(items):
        turns = conversation_of(number, item)
        prepared = pipeline.prepare([_event(turn, index) for index, turn in enumerate(turns)], store)
        for turn, ready in zip(turns, prepared):
            result = pipeline.step(store, ready)
            if turn.scored:
                raised[number] |= {alert.rule for alert in result.alerts if alert.rule.startswith("therapist.")}
    labels = [item["label"] for item in items]
    report: dict[str, Any] = {"answers": len(items), "by_label": dict(Counter(labels)), "rules": {}}
    for rule, truth_labels in RULE_TRUTH.items():
        truth = [label in truth_labels for label in labels]
        fired = [rule in raised[n] for n in range(len(items))]
        report["rules"][rule] = precision_recall(_array(truth), _array(fired))
        if rule == "therapist.harsh_or_shaming":
            roleplay = [item.get("context") == "roleplay" for item in items]
            report["rules"][rule]["recall_in_roleplay"] = precision_recall(
                _array([t for t, r in zip(truth, roleplay) if r]), _array([f for f, r in zip(fired, roleplay) if r])
            )["recall"]
    consistent = [n for n, label in enumerate(labels) if label in CONSISTENT]
    false_alerts = Counter(rule for n in consistent for rule in raised[n])
    report["consistent_answers"] = len(consistent)
    report["false_alerts_on_consistent_per_100"] = {
        rule: round(100 * count / max(1, len(consistent)), 2) for rule, count in false_alerts.most_common()
    }
    report["any_alert_on_consistent_per_100"] = round(
        100 * sum(bool(raised[n]) for n in consistent) / max(1, len(consistent)), 2
    )
    return report


def _array(values: list[bool]) -> np.ndarray:
    return np.array(values, dtype=bool)
