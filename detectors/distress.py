"""Distress detector: how a patient's distress moves across the conversation.

Each patient turn has a distress score in [0, 1] (``features.distress_score``: negative
emotions from the emotion head, damped by positive ones, plus cue families — overwhelm,
somatic anxiety, exhaustion, hopelessness). Over the recent patient turns this detector
keeps a trajectory: an exponentially smoothed level and the slope of the last few scores.

Rules
-----
``distress.escalating`` (warning; high when the latest turn is very high)
    The scores have risen over the last turns: positive slope, the latest score high, and
    well above the lowest of the recent ones.
``distress.sustained_high`` (warning; high when the level stays very high)
    Several consecutive patient turns all score high.

One episode is one alert; it is raised again only at a higher severity. An episode ends
when the smoothed level falls back below calm; a later episode of the same rule in the same
conversation alerts only if it is more severe than any before it (no re-paging for a relapse
at the same level). Does not look at single sad turns, at
therapist turns, or at crisis language (the crisis detector owns that; crisis sets a
score floor here). Limits: the emotion head is trained on Reddit comments, not therapy;
long turns are read through their first 256 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "distress"
VERSION = "distress/1.0"

SMOOTHING = 0.5
HIGH = 0.6
VERY_HIGH = 0.8
CALM = 0.4
SUSTAINED_TURNS = 3
SLOPE_TURNS = 4
MIN_SLOPE = 0.08
MIN_RISE = 0.3
TAXONOMY: tuple[str, ...] = ()
ACTION = "Read the conversation; check the AI acknowledged the distress and consider a human check-in."


@dataclass(frozen=True)
class Trajectory:
    scores: tuple[float, ...]  # oldest first
    indices: tuple[int, ...]
    level: float
    slope: float


def trajectory(state: ConversationState) -> Trajectory:
    patient = [t for t in state.window if t.role == "patient" and "distress" in t.features]
    scores = tuple(float(t.features["distress"]) for t in patient)
    level = 0.0
    for i, score in enumerate(scores):
        level = score if i == 0 else SMOOTHING * score + (1 - SMOOTHING) * level
    recent = scores[-SLOPE_TURNS:]
    slope = float(np.polyfit(range(len(recent)), recent, 1)[0]) if len(recent) >= 3 else 0.0
    return Trajectory(scores, tuple(t.index for t in patient), level, slope)


def _why(turn: TurnRecord) -> str:
    cues = ", ".join(sorted(turn.features.get("cues", {})))
    emotions = sorted(turn.features.get("emo", {}).items(), key=lambda kv: -kv[1])[:2]
    parts = [f"distress {turn.features['distress']:.2f}"]
    if emotions:
        parts.append("emotions " + ", ".join(f"{k} {v:.2f}" for k, v in emotions))
    if cues:
        parts.append(f"cues: {cues}")
    return "; ".join(parts)


class DistressDetector:
    name = NAME
    version = VERSION

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "patient" or "distress" not in turn.features:
            return []
        path = trajectory(state)
        memory = state.memory_for(NAME)
        opened: dict[str, int] = memory.setdefault("opened", {})
        memory.setdefault("worst", {})
        if path.level < CALM:
            opened.clear()  # the episode, if any, is over
            return []
        findings = []
        recent = path.scores[-SLOPE_TURNS:]
        latest = path.scores[-1]
        if len(recent) >= 3 and path.slope >= MIN_SLOPE and latest >= HIGH and latest - min(recent) >= MIN_RISE:
            severity = Severity.HIGH if latest >= VERY_HIGH else Severity.WARNING
            findings.append(self._finding(state, path, "distress.escalating", severity, memory,
                                          f"distress rising over the last {len(recent)} patient turns "
                                          f"(slope {path.slope:+.2f}/turn, now {latest:.2f})"))
        tail = path.scores[-SUSTAINED_TURNS:]
        if len(tail) == SUSTAINED_TURNS and min(tail) >= HIGH:
            severity = Severity.HIGH if path.level >= VERY_HIGH and min(tail) >= 0.7 else Severity.WARNING
            findings.append(self._finding(state, path, "distress.sustained_high", severity, memory,
                                          f"distress high for {SUSTAINED_TURNS}+ patient turns (level {path.level:.2f})"))
        return [f for f in findings if f is not None]

    def _finding(self, state: ConversationState, path: Trajectory, rule: str, severity: Severity,
                 memory: dict, what: str) -> Finding | None:
        span = path.indices[-SLOPE_TURNS:]
        if rule not in memory["opened"] and int(severity) <= memory["worst"].get(rule, 0):
            return None  # a relapse at a level reviewers have already seen in this conversation
        opened = memory["opened"].setdefault(rule, span[0])
        memory["worst"][rule] = max(int(severity), memory["worst"].get(rule, 0))
        by_index = {t.index: t for t in state.window}
        drivers = sorted(span, key=lambda i: -by_index[i].features["distress"])[:3]
        evidence = tuple(
            Evidence(i, "patient", excerpt(by_index[i].text, 160), _why(by_index[i])) for i in sorted(drivers)
        )
        return Finding(
            detector=NAME,
            rule=rule,
            severity=severity,
            opened_at=opened,
            turns=tuple(span),
            evidence=evidence,
            summary=f"Patient {what}.",
            suggested_action=ACTION,
            score=round(path.level, 3),
            taxonomy=TAXONOMY,
        )


DETECTOR = DistressDetector()
