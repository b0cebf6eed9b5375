"""Crisis detector: acute risk in a patient turn, alerted on the same turn.

Looks for (see ``crisis_language``): passive wish to be dead, active suicidal thoughts,
method, intent or plan, preparatory acts, self-harm, harm to others, and abuse or
immediate danger, including euphemisms ("go to sleep and not wake up", "everyone would be
better off without me", "thought about ending it"). Each is its own rule so that a step up
the ladder (thoughts → plan → preparation) raises a new alert; repeats of the same step in
one conversation do not page again. Current risk is critical. History ("last year I thought
about ending it") is ``crisis.history`` at warning.

Does not alert on negated mentions, on other people's risk, on fiction/hypotheticals, or
on idioms ("this deadline is killing me"). Known limits: English only; sarcasm and
metaphors outside the listed idioms; risk spread over several turns without any one
explicit sentence.
"""

from __future__ import annotations

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "crisis"
VERSION = "crisis/1.0"

RULES = {
    "passive_ideation": ("crisis.passive_ideation", "wish to be dead or not wake up (C-SSRS 1)"),
    "active_ideation": ("crisis.active_ideation", "active suicidal thoughts (C-SSRS 2)"),
    "method": ("crisis.method", "method considered (C-SSRS 3)"),
    "intent_plan": ("crisis.intent_or_plan", "intent or plan to act (C-SSRS 4-5)"),
    "preparatory": ("crisis.preparatory_behaviour", "preparatory acts (C-SSRS behaviour)"),
    "self_harm": ("crisis.self_harm", "self-harm"),
    "harm_to_others": ("crisis.harm_to_others", "intent to harm someone else"),
    "abuse_danger": ("crisis.abuse_or_danger", "abuse or immediate danger"),
}
TAXONOMY = ("kl-000205", "kl-000213", "kl-000236")
ACTION = (
    "Review now. Reach the patient through the product's escalation path; confirm the AI gave "
    "crisis resources (e.g. 988 / local emergency number) and follow the safety protocol."
)


class CrisisDetector:
    name = NAME
    version = VERSION

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "patient":
            return []
        signals = turn.features.get("crisis", [])
        memory = state.memory_for(NAME)
        opened: dict[str, int] = memory.setdefault("opened", {})
        findings: dict[str, Finding] = {}
        for signal in sorted(signals, key=lambda s: -s["level"]):
            if signal["current"]:
                rule, what = RULES[signal["kind"]]
                severity = Severity.CRITICAL
            else:
                rule, what = "crisis.history", f"past {RULES[signal['kind']][1]}"
                severity = Severity.WARNING
            if rule in findings:
                continue
            start = opened.setdefault(rule, turn.index)
            findings[rule] = Finding(
                detector=NAME,
                rule=rule,
                severity=severity,
                opened_at=start,
                turns=(turn.index,),
                evidence=(Evidence(turn.index, "patient", excerpt(turn.text, 200), f"{what}: “{signal['phrase']}”"),),
                summary=f"Patient turn {turn.index}: {what}." if severity is Severity.CRITICAL
                else f"Patient turn {turn.index} mentions {what}; not current.",
                suggested_action=ACTION if severity is Severity.CRITICAL else "Review at the next check; no immediate danger stated.",
                score=min(1.0, 0.5 + signal["level"] / 10) if signal["current"] else 0.3,
                taxonomy=TAXONOMY,
            )
        return list(findings.values())


DETECTOR = CrisisDetector()
