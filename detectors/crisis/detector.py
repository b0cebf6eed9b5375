"""Crisis detector: acute risk in a patient turn, alerted on the same turn.

Reads the turn's ``CrisisSignals`` (``sentence_head``: calibrated probabilities per sentence
from a head trained on real, hand-labelled text) and turns its decision into findings:

``crisis.<kind>`` (critical): the patient's own current risk above the paging threshold, one
    rule per step of the ladder: passive wish to be dead (C-SSRS 1), active thoughts (2),
    method (3), intent or plan (4-5), preparatory behaviour or an attempt, plus self-harm,
    harm to others, and abuse or immediate danger. A step up the ladder raises a new alert;
    the same step again in one conversation does not page again.
``crisis.possible`` (high, or warning when less likely): possible current risk below the
    paging threshold, for the review queue: one item per conversation, raised again at a higher
    severity (later possible turns are in the conversation the reviewer opens).
``crisis.history`` (warning): the patient's own risk told as past and over.

Not alerted: other people's risk, "you" (encouraging someone), people in general, denials,
hypotheticals and questions about the topic, idioms, positive statements about one's life,
quotes and role-play — the head learned these stances from labelled examples. Limits:
English only; one sentence at a time (risk spread over sentences with no risky sentence is
missed); sarcasm.
"""

from __future__ import annotations

from detectors.crisis.signals import CrisisDecision, CrisisSignals, RiskSentence
from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "crisis"
VERSION = "crisis/2.0"

KIND_RULES = {
    "passive_ideation": ("crisis.passive_ideation", "wish to be dead or not wake up (C-SSRS 1)"),
    "active_ideation": ("crisis.active_ideation", "active suicidal thoughts (C-SSRS 2)"),
    "method": ("crisis.method", "method considered (C-SSRS 3)"),
    "intent_plan": ("crisis.intent_or_plan", "intent or plan to act (C-SSRS 4-5)"),
    "preparatory": ("crisis.preparatory_behaviour", "preparatory acts or an attempt (C-SSRS behaviour)"),
    "self_harm": ("crisis.self_harm", "self-harm"),
    "harm_to_others": ("crisis.harm_to_others", "intent to harm someone else"),
    "abuse_danger": ("crisis.abuse_or_danger", "abuse or immediate danger"),
}
POSSIBLE = "crisis.possible"
HISTORY = "crisis.history"
RULES: tuple[str, ...] = (*(rule for rule, _ in KIND_RULES.values()), POSSIBLE, HISTORY)
TAXONOMY = ("kl-000205", "kl-000213", "kl-000236")
PAGE_ACTION = (
    "Review now. Reach the patient through the product's escalation path; confirm the AI gave "
    "crisis resources (e.g. 988 / local emergency number) and follow the safety protocol."
)
REVIEW_ACTION = "Review soon: read the turn in context and decide whether the patient is at risk."
HISTORY_ACTION = "Review at the next check; no current danger stated."
POSSIBLE_HIGH = 0.5  # crisis.possible at or above this probability is high, else warning


class CrisisDetector:
    name = NAME
    version = VERSION
    rules = RULES

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        signals = turn.features.crisis
        if turn.role != "patient" or signals is None or signals.decision is CrisisDecision.NONE:
            return []
        if signals.decision is CrisisDecision.PAGE:
            return self._pages(turn, signals)
        if not signals.sentences:
            return []
        if signals.decision is CrisisDecision.REVIEW:
            # The sentence that made it a review: the most likely current one that is not more likely past.
            top = max(
                (s for s in signals.sentences if s.current >= s.history),
                key=lambda s: s.current,
                default=signals.sentences[0],
            )
            what = KIND_RULES[top.kind][1]
            severity = Severity.HIGH if top.current >= POSSIBLE_HIGH else Severity.WARNING
            # One review item per conversation, raised again at a higher severity: the reviewer reads
            # the conversation, and ordinary talk can hover just above the review threshold.
            return [
                self._finding(
                    turn,
                    POSSIBLE,
                    severity,
                    top,
                    top.current,
                    f"possible {what} (P = {top.current:.2f}, below the paging threshold)",
                    f"Patient turn {turn.index} may describe {what}; not certain enough to page.",
                    REVIEW_ACTION,
                )
            ]
        past = max(signals.sentences, key=lambda s: s.history)
        return [
            self._finding(
                turn,
                HISTORY,
                Severity.WARNING,
                past,
                past.history,
                f"past risk (P = {past.history:.2f})",
                f"Patient turn {turn.index} mentions past risk; not current.",
                HISTORY_ACTION,
            )
        ]

    def _pages(self, turn: TurnRecord, signals: CrisisSignals) -> list[Finding]:
        """One critical finding per paged step: a plan and a method in one turn are two steps."""
        findings = []
        for kind in signals.paged_kinds:
            sentence = max((s for s in signals.sentences if s.kind == kind), key=lambda s: s.current)
            rule, what = KIND_RULES[kind]
            findings.append(
                self._finding(
                    turn,
                    rule,
                    Severity.CRITICAL,
                    sentence,
                    sentence.current,
                    f"{what} (P = {sentence.current:.2f})",
                    f"Patient turn {turn.index}: {what}.",
                    PAGE_ACTION,
                )
            )
        return findings

    def _finding(
        self,
        turn: TurnRecord,
        rule: str,
        severity: Severity,
        sentence: RiskSentence,
        score: float,
        why: str,
        summary: str,
        action: str,
    ) -> Finding:
        return Finding(
            detector=NAME,
            rule=rule,
            severity=severity,
            opened_at=turn.index,
            turns=(turn.index,),
            evidence=(Evidence(turn.index, "patient", excerpt(sentence.quote(turn.text), 200), why),),
            summary=summary,
            suggested_action=action,
            score=round(min(1.0, score), 4),
            taxonomy=TAXONOMY,
        )


DETECTOR = CrisisDetector()
