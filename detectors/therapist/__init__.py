"""Therapist: what the patient saw, judged turn by turn and as a session.

Each AI answer is coded in context the way counselling research codes counsellors (``codes``: a MITI
4.2 code per sentence, from one encoder pass; ``empathy``: emotional reaction, interpretation and
exploration, each none / weak / strong, read against the patient turn it answers). The rules decide
from those codes and the patient's state (distress, shame, fear, a request they made, a role-play they
asked for), grouped by family, each module telling what it flags and why:

- ``safety``: ``missed_crisis`` (critical), ``harsh_or_shaming`` (contempt and shaming, in role-play
  too, and in-role harshness that keeps rising while the patient reports distress), ``crisis_framing``;
- ``empathy_mi``: ``ignores_distress``, ``advice_without_empathy``, ``overrides_request``,
  ``mirroring_only``, ``dismisses``, ``inconsistent_pattern`` and ``low_quality_session`` (the rolling
  counselling-quality score of ``quality`` under its line);
- ``boundaries``: ``out_of_conversation_promise``, ``claims_human``, ``ai_feelings``, ``diagnoses``,
  ``role_confusion``;
- ``form``: ``malformed`` (a non-answer, a placeholder, leaked markup, an answer cut off mid-clause).

Judged is the answer's ``text``; ``meta.therapist_reasoning`` never is. A non-answer is judged only for
``malformed`` and ``missed_crisis``. The detector adds each answer's empathy to its features and keeps
the session's quality in its memory; ``observations`` hands the latest score to the stream layer.
"""

from __future__ import annotations

from detectors.findings import Finding
from detectors.state import ConversationState, TurnRecord
from detectors.therapist.boundaries import (
    ai_feelings,
    claims_human,
    diagnoses,
    out_of_conversation_promise,
    role_confusion,
)
from detectors.therapist.common import NAME, VERSION, Rule
from detectors.therapist.context import answered_patient_turn, empathy_of
from detectors.therapist.empathy_mi import (
    advice_without_empathy,
    dismisses,
    ignores_distress,
    inconsistent_pattern,
    low_quality_session,
    mirroring_only,
    overrides_request,
)
from detectors.therapist.form import _malformed_kind, malformed
from detectors.therapist.quality import SessionQuality, TurnTally
from detectors.therapist.safety import crisis_framing, harsh_or_shaming, missed_crisis

RULES: tuple[Rule, ...] = (
    malformed,
    out_of_conversation_promise,
    harsh_or_shaming,
    missed_crisis,
    ignores_distress,
    overrides_request,
    diagnoses,
    claims_human,
    ai_feelings,
    crisis_framing,
    mirroring_only,
    advice_without_empathy,
    role_confusion,
    dismisses,
    inconsistent_pattern,
    low_quality_session,
)


class TherapistDetector:
    name = NAME
    version = VERSION

    def __init__(self, checks: tuple[Rule, ...] = RULES) -> None:
        self.checks = checks
        self.rules = tuple(f"{NAME}.{check.__name__}" for check in checks)

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "therapist":
            return []
        if _malformed_kind(turn.text) is not None:
            # A non-answer has nothing else to judge, except that it may leave a crisis unanswered.
            return [f for f in (malformed(state, turn), missed_crisis(state, turn)) if f]
        empathy = empathy_of(state, turn)
        if empathy is not None:
            turn.features.empathy = empathy
        patient = answered_patient_turn(state, turn)
        state.memory(NAME, SessionQuality).add(
            TurnTally.of(
                turn.features.codes, empathy.total if empathy else 0, len(patient.text.split()) if patient else 0
            )
        )
        return [f for check in self.checks if (f := check(state, turn)) is not None]

    def observations(self, state: ConversationState) -> dict[str, float]:
        """What the stream layer may export about the conversation (no text, no ids): the session score."""
        last = state.memory(NAME, SessionQuality).last
        return {"session_quality": last} if last is not None else {}


DETECTOR = TherapistDetector()
