"""A rolling counselling-quality score of a conversation, from the codes of the AI's recent turns.

The score follows the summary scores of the MITI 4.2 coding manual and the empathy mechanisms, each
mapped to [0, 1] and averaged with equal weights (no component is trusted more than the others):

- reflection to question ratio, R:Q ≥ 1 is good practice: ``min(1, R / Q)``;
- share of complex reflections among reflections (MITI: 40 % fair, 50 % good): ``min(1, CR / R / 0.5)``;
- share of MI-consistent behaviour among MI-relevant behaviour (affirm, seek collaboration,
  emphasise autonomy, advise with permission vs. persuade without it, confront, shame, warn, minimise);
- empathy: the mean of the three mechanisms' levels, over their maximum;
- share of talk: the patient should talk at least as much as the AI: ``clip((0.8 − AI share) / 0.4)``.

A component with nothing to go on (no reflection and no question yet, no MI-relevant sentence) is left
out of the average rather than counted as good or bad. The window is the last ``WINDOW`` AI turns, so
the score follows a conversation that turns bad (or recovers). ``therapist.low_quality_session`` is
raised when the score stays under the calibrated line (``LINE``, chosen on written sessions rated high
and low; README) for ``RUN_WARNING`` AI turns in a row (warning), ``RUN_HIGH`` (high).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from detectors.therapist.codes import MI_CONSISTENT, MI_INCONSISTENT, AnswerCodes

WINDOW = 8
MIN_TURNS = 4  # AI turns before a score is given
LINE = 0.27  # `turnwatch eval --sessions detectors/therapist/labelled/sessions`: chosen on the odd-numbered half
RUN_WARNING = 3
RUN_HIGH = 6
COMPONENTS = ("reflection_to_question", "complex_reflections", "mi_consistency", "empathy", "talk_share")


@dataclass(frozen=True)
class TurnTally:
    """What one AI turn contributes: counts of codes, its empathy (0-6) and the words said on both sides."""

    simple: int
    complex: int
    questions: int
    consistent: int
    inconsistent: int
    empathy: int
    ai_words: int
    patient_words: int

    @classmethod
    def of(cls, codes: AnswerCodes | None, empathy: int, patient_words: int) -> TurnTally:
        if codes is None:
            return cls(0, 0, 0, 0, 0, empathy, 0, patient_words)
        return cls(
            codes.counts.get("simple_reflection", 0),
            codes.counts.get("complex_reflection", 0),
            codes.count(("open_question", "closed_question")),
            codes.count(MI_CONSISTENT),
            codes.count(MI_INCONSISTENT),
            empathy,
            codes.words,
            patient_words,
        )

    def to_list(self) -> list[int]:
        return [
            self.simple,
            self.complex,
            self.questions,
            self.consistent,
            self.inconsistent,
            self.empathy,
            self.ai_words,
            self.patient_words,
        ]


def components(tallies: list[TurnTally]) -> dict[str, float]:
    """The score's components over ``tallies`` (only those with something to go on)."""
    reflections = sum(t.simple + t.complex for t in tallies)
    questions = sum(t.questions for t in tallies)
    relevant = sum(t.consistent + t.inconsistent for t in tallies)
    words = sum(t.ai_words + t.patient_words for t in tallies)
    out: dict[str, float] = {}
    if reflections or questions:
        out["reflection_to_question"] = min(1.0, reflections / questions) if questions else 1.0
    if reflections:
        out["complex_reflections"] = min(1.0, sum(t.complex for t in tallies) / reflections / 0.5)
    if relevant:
        out["mi_consistency"] = sum(t.consistent for t in tallies) / relevant
    if tallies:
        out["empathy"] = sum(t.empathy for t in tallies) / (6 * len(tallies))
    if words:
        share = sum(t.ai_words for t in tallies) / words
        out["talk_share"] = min(1.0, max(0.0, (0.8 - share) / 0.4))
    return out


def score(parts: dict[str, float]) -> float:
    return round(sum(parts.values()) / len(parts), 4) if parts else 0.5


@dataclass
class SessionQuality:
    """The therapist detector's memory of a conversation's counselling quality."""

    tallies: list[TurnTally] = field(default_factory=list)
    ai_turns: int = 0
    low_run: int = 0  # AI turns in a row with the score under the line
    last: float | None = None

    def add(self, tally: TurnTally, line: float = LINE) -> float | None:
        """Count one AI turn; the rolling score once ``MIN_TURNS`` AI turns are in, else None."""
        self.ai_turns += 1
        self.tallies.append(tally)
        del self.tallies[:-WINDOW]
        if self.ai_turns < MIN_TURNS:
            self.last = None
            return None
        self.last = score(components(self.tallies))
        self.low_run = self.low_run + 1 if self.last < line else 0
        return self.last

    def to_dict(self) -> dict[str, Any]:
        return {"t": [t.to_list() for t in self.tallies], "n": self.ai_turns, "low": self.low_run, "s": self.last}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionQuality:
        return cls([TurnTally(*t) for t in data.get("t", ())], data.get("n", 0), data.get("low", 0), data.get("s"))
