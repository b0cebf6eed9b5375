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

An episode starts when the smoothed level rises to calm or above and ends when it has stayed
below for ``CALM_TURNS_TO_END`` patient turns (anxious talk hovers around calm; one calmer turn
does not end it); findings carry it as their episode key (the pipeline's episode policy raises one alert
per episode, again only at a higher severity). Does not look at single sad turns, at
therapist turns, or at crisis language (the crisis detector owns that; crisis sets a
score floor here). Limits: the emotion head is trained on Reddit comments, not therapy;
long turns are read through their first 256 tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "distress"
VERSION = "distress/1.0"

SMOOTHING = 0.5
HIGH = 0.6
VERY_HIGH = 0.8
CALM = 0.4
CALM_TURNS_TO_END = 3
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


@dataclass
class DistressMemory:
    episode_start: int | None = None  # the patient turn at which the current episode began
    calm_turns: int = 0  # consecutive patient turns below calm since

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistressMemory:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def trajectory(state: ConversationState) -> Trajectory:
    patient = [t for t in state.window if t.role == "patient" and t.features.distress is not None]
    scores = tuple(t.features.distress_score for t in patient)
    level = 0.0
    for i, score in enumerate(scores):
        level = score if i == 0 else SMOOTHING * score + (1 - SMOOTHING) * level
    recent = scores[-SLOPE_TURNS:]
    slope = float(np.polyfit(range(len(recent)), recent, 1)[0]) if len(recent) >= 3 else 0.0
    return Trajectory(scores, tuple(t.index for t in patient), level, slope)


def _why(turn: TurnRecord) -> str:
    cues = ", ".join(turn.features.cues.names()) if turn.features.cues else ""
    emotions = turn.features.emotions.strongest(2) if turn.features.emotions else []
    parts = [f"distress {turn.features.distress_score:.2f}"]
    if emotions:
        parts.append("emotions " + ", ".join(f"{k} {v:.2f}" for k, v in emotions))
    if cues:
        parts.append(f"cues: {cues}")
    return "; ".join(parts)


class DistressDetector:
    name = NAME
    version = VERSION
    rules = ("distress.escalating", "distress.sustained_high")

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "patient" or turn.features.distress is None:
            return []
        path = trajectory(state)
        memory = state.memory(NAME, DistressMemory)
        if path.level < CALM:
            memory.calm_turns += 1
            if memory.calm_turns >= CALM_TURNS_TO_END:
                memory.episode_start = None  # the episode, if any, is over
            return []
        memory.calm_turns = 0
        if memory.episode_start is None:
            memory.episode_start = turn.index
        findings = []
        recent = path.scores[-SLOPE_TURNS:]
        latest = path.scores[-1]
        if len(recent) >= 3 and path.slope >= MIN_SLOPE and latest >= HIGH and latest - min(recent) >= MIN_RISE:
            severity = Severity.HIGH if latest >= VERY_HIGH else Severity.WARNING
            findings.append(
                self._finding(
                    state,
                    path,
                    "distress.escalating",
                    severity,
                    memory.episode_start,
                    f"distress rising over the last {len(recent)} patient turns "
                    f"(slope {path.slope:+.2f}/turn, now {latest:.2f})",
                )
            )
        tail = path.scores[-SUSTAINED_TURNS:]
        if len(tail) == SUSTAINED_TURNS and min(tail) >= HIGH:
            severity = Severity.HIGH if path.level >= VERY_HIGH and min(tail) >= 0.7 else Severity.WARNING
            findings.append(
                self._finding(
                    state,
                    path,
                    "distress.sustained_high",
                    severity,
                    memory.episode_start,
                    f"distress high for {SUSTAINED_TURNS}+ patient turns (level {path.level:.2f})",
                )
            )
        return findings

    def _finding(
        self, state: ConversationState, path: Trajectory, rule: str, severity: Severity, episode_start: int, what: str
    ) -> Finding:
        span = path.indices[-SLOPE_TURNS:]
        by_index = {t.index: t for t in state.window}
        drivers = sorted(span, key=lambda i: -by_index[i].features.distress_score)[:3]
        evidence = tuple(
            Evidence(i, "patient", excerpt(by_index[i].text, 160), _why(by_index[i])) for i in sorted(drivers)
        )
        return Finding(
            detector=NAME,
            rule=rule,
            severity=severity,
            opened_at=span[0],
            episode=str(episode_start),
            turns=tuple(span),
            evidence=evidence,
            summary=f"Patient {what}.",
            suggested_action=ACTION,
            score=round(path.level, 3),
            taxonomy=TAXONOMY,
        )


DETECTOR = DistressDetector()
