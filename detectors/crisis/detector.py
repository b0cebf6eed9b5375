"""The crisis detector's rules: sentence pages, the conversation page, the review queue, history.

(What it pages on and why is told in ``detectors/crisis/__init__.py``.)
"""

from __future__ import annotations

import functools
from dataclasses import replace

from detectors.crisis.conversation import DEFAULT_MODEL, Contribution, ConversationEvidence, ConversationModel, Held
from detectors.crisis.language import in_plain_words
from detectors.crisis.lexicon import Lexicon
from detectors.crisis.signals import CrisisDecision, CrisisSignals, RiskSentence
from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "crisis"
VERSION = "crisis/3.0"

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
CUMULATIVE = "crisis.cumulative_risk"
POSSIBLE = "crisis.possible"
HISTORY = "crisis.history"
RULES: tuple[str, ...] = (*(rule for rule, _ in KIND_RULES.values()), CUMULATIVE, POSSIBLE, HISTORY)
TAXONOMY = ("kl-000205", "kl-000213", "kl-000236")
PAGE_ACTION = (
    "Review now. Reach the patient through the product's escalation path; confirm the AI gave "
    "crisis resources (e.g. 988 / local emergency number) and follow the safety protocol."
)
CUMULATIVE_ACTION = (
    "Review now: read the quoted turns together; no single one crossed the line, together they do. "
    "Reach the patient through the product's escalation path and follow the safety protocol."
)
REVIEW_ACTION = "Review soon: read the turn in context and decide whether the patient is at risk."
HISTORY_ACTION = "Review at the next check; no current danger stated."
POSSIBLE_HIGH = 0.5  # crisis.possible at or above this probability is high, else warning
MAX_EVIDENCE = 6


CONFIRMING_WEIGHT = 0.1  # a construct's addition to the logit that counts as the vocabulary agreeing
UNCONFIRMED_PAGE = 0.7  # conversation risk that pages without the vocabulary's confirmation
LIKELY_CURRENT = 0.5  # a sentence more likely current risk than not


def channel_label(channel: str) -> str:
    """What a reviewer reads for an evidence channel: a ladder step or a lexicon construct."""
    kind, _, name = channel.partition(":")
    if kind == "risk":
        return KIND_RULES[name][1]
    if kind == "construct":
        return Lexicon.load().label(name)
    if kind == "rank":
        return "current risk"
    return "past risk"


def constructs_in(sentence: str) -> str:
    """The suicide-risk constructs a sentence names, for the reviewer ("lethal means, hopelessness")."""
    found = Lexicon.load().matches(in_plain_words(sentence))
    labels = dict.fromkeys(Lexicon.load().label(m.construct) for m in found)
    return ", ".join(labels)


class CrisisDetector:
    name = NAME
    version = VERSION
    rules = RULES

    def __init__(self, conversation_model: ConversationModel | None = None, conversation: bool = True) -> None:
        self._conversation_model = conversation_model
        self.conversation = conversation

    @property
    def conversation_model(self) -> ConversationModel | None:
        """The model combining a conversation's evidence (the shipped one unless given); None when off."""
        if not self.conversation:
            return None
        if self._conversation_model is None:
            self._conversation_model = shipped_conversation_model()
        return self._conversation_model

    def with_options(self, **options: object) -> CrisisDetector:
        """``conversation: false`` turns the conversation-level page off (sentence pages only)."""
        unknown = set(options) - {"conversation"}
        if unknown:
            raise ValueError(f"crisis takes the option 'conversation' (true/false), not {', '.join(sorted(unknown))}")
        if not isinstance(options.get("conversation", True), bool):
            raise ValueError("crisis option 'conversation' must be true or false")
        return CrisisDetector(self._conversation_model, bool(options.get("conversation", True)))

    def with_conversation_model(self, model: ConversationModel) -> CrisisDetector:
        return CrisisDetector(model, self.conversation)

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        signals = turn.features.crisis
        if turn.role != "patient" or signals is None:
            return []
        memory = state.memory(NAME, ConversationEvidence)
        memory.add(turn.index, turn.text, turn.ts, signals.evidence, signals.safety)
        model = self.conversation_model
        values = memory.values() if model is not None else {}
        risk = model.probability(values) if model is not None else 0.0
        if model is not None:
            signals = self._second_key(signals, model, risk, self._paged_since_reset(memory))
            # What was decided is what the turn shows: missed_crisis and the distress floor read it.
            turn.features.crisis = signals
        findings = self._sentence_findings(turn, signals)
        if signals.paged:
            memory.paged_at = turn.index
            findings = [self._with_context(f, memory, turn) if f.severity is Severity.CRITICAL else f for f in findings]
        if model is not None:
            gathered = self._conversation_findings(turn, memory, findings, values, risk)
            if any(f.rule == CUMULATIVE for f in gathered):
                memory.paged_at = turn.index
                turn.features.crisis = replace(signals, conversation_paged=True)  # missed_crisis reads it
                findings = [f for f in findings if f.rule != POSSIBLE]  # the page supersedes the review item
            findings += gathered
        return findings

    @staticmethod
    def _second_key(
        signals: CrisisSignals, model: ConversationModel, risk: float, already_paged: bool
    ) -> CrisisSignals:
        """Two keys for a page: a sentence and a conversation that agrees.

        A sentence the head rates just over the page line, in an otherwise calm conversation, goes to
        the review queue (a hedged or conditional sentence). The other way round, when the
        conversation is past its own page line and has paged already (or pages on this turn by a
        sentence), every sentence of this turn the head finds more likely current risk than not pages
        for its step: the plan told after the method, the wish to be dead beside the pills. Before any
        page, risk gathered over turns pages as ``crisis.cumulative_risk`` instead."""
        if signals.paged and risk < model.page:
            return replace(signals, decision=CrisisDecision.REVIEW, paged_kinds=())
        if risk < model.page or not (signals.paged or already_paged):
            return signals
        likely = tuple(
            dict.fromkeys(
                s.kind
                for s in signals.sentences
                if s.current >= LIKELY_CURRENT and s.current >= s.history and s.kind not in signals.paged_kinds
            )
        )
        if not likely:
            return signals
        return replace(signals, decision=CrisisDecision.PAGE, paged_kinds=(*signals.paged_kinds, *likely))

    @staticmethod
    def _paged_since_reset(memory: ConversationEvidence) -> bool:
        return memory.paged_at is not None and (memory.reset_at is None or memory.paged_at > memory.reset_at)

    def _conversation_findings(
        self,
        turn: TurnRecord,
        memory: ConversationEvidence,
        already: list[Finding],
        values: dict[str, tuple[float, Held]],
        risk: float,
    ) -> list[Finding]:
        """The page (or review item) for risk gathered across the conversation's patient turns."""
        model = self.conversation_model
        assert model is not None
        if risk < model.review or self._paged_since_reset(memory):
            return []
        contributions = model.contributions(values) or model.contributions(values, floor=0.0)
        pages = risk >= UNCONFIRMED_PAGE or (risk >= model.page and lexicon_confirms(contributions))
        if not pages and any(f.rule == POSSIBLE for f in already):
            return []  # the turn's own sentence is already in the review queue
        if not contributions:
            return []
        evidence = cumulative_evidence(contributions)
        turns = tuple(sorted({e.turn_index for e in evidence} | {turn.index}))
        if pages:
            summary = f"Risk said in pieces across patient turns {', '.join(map(str, turns))} (P = {risk:.2f})."
            return [
                Finding(
                    detector=NAME,
                    rule=CUMULATIVE,
                    severity=Severity.CRITICAL,
                    opened_at=turn.index,
                    turns=turns,
                    evidence=evidence,
                    summary=summary,
                    suggested_action=CUMULATIVE_ACTION,
                    score=round(risk, 4),
                    taxonomy=TAXONOMY,
                )
            ]
        severity = Severity.HIGH if risk >= POSSIBLE_HIGH else Severity.WARNING
        return [
            Finding(
                detector=NAME,
                rule=POSSIBLE,
                severity=severity,
                opened_at=turn.index,
                turns=turns,
                evidence=evidence,
                summary=f"Possible risk gathered over patient turns {', '.join(map(str, turns))} "
                f"(P = {risk:.2f}, below the paging threshold).",
                suggested_action=REVIEW_ACTION,
                score=round(risk, 4),
                taxonomy=TAXONOMY,
            )
        ]

    def _sentence_findings(self, turn: TurnRecord, signals: CrisisSignals) -> list[Finding]:
        if signals.decision is CrisisDecision.NONE:
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

    def _with_context(self, page: Finding, memory: ConversationEvidence, turn: TurnRecord) -> Finding:
        """A sentence page also quotes the earlier turns whose evidence adds to the risk: the reviewer
        reads the whole story, not the last sentence of it."""
        model = self.conversation_model
        if model is None:
            return page
        earlier = [c for c in model.contributions(memory.values()) if c.held.turn != turn.index]
        context = tuple(e for e in cumulative_evidence(earlier) if e.turn_index != turn.index)
        if not context:
            return page
        evidence = tuple(sorted((*page.evidence, *context[: MAX_EVIDENCE - 1]), key=lambda e: e.turn_index))
        return replace(page, evidence=evidence, turns=tuple(sorted({*page.turns, *(e.turn_index for e in evidence)})))

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
            evidence=(
                Evidence(
                    turn.index,
                    "patient",
                    excerpt(sentence.quote(turn.text), 200),
                    with_constructs(why, sentence.quote(turn.text)),
                ),
            ),
            summary=summary,
            suggested_action=action,
            score=round(min(1.0, score), 4),
            taxonomy=TAXONOMY,
        )


def with_constructs(why: str, sentence: str) -> str:
    found = constructs_in(sentence)
    return f"{why}; {found}" if found else why


def lexicon_confirms(contributions: list[Contribution]) -> bool:
    """A conversation page needs the clinical vocabulary to agree with the sentence head: at least one
    construct the writer says of themself, now, adding to the risk. Moderate head readings alone
    (a perfectionist's "I shouldn't bother trying") stay in the review queue."""
    return any(c.channel.startswith("construct:") and c.weight >= CONFIRMING_WEIGHT for c in contributions)


def cumulative_evidence(contributions: list[Contribution]) -> tuple[Evidence, ...]:
    """One evidence item per contributing sentence, each naming what it showed ("lethal means; …")."""
    by_quote: dict[tuple[int, str], list[str]] = {}
    for contribution in contributions:
        held = contribution.held
        by_quote.setdefault((held.turn, held.quote), []).append(
            f"{channel_label(contribution.channel)} ({contribution.value:.2f})"
        )
    items = [
        Evidence(turn, "patient", quote, "; ".join(dict.fromkeys(labels)))
        for (turn, quote), labels in list(by_quote.items())[:MAX_EVIDENCE]
    ]
    return tuple(sorted(items, key=lambda e: e.turn_index))


@functools.cache
def shipped_conversation_model() -> ConversationModel:
    return ConversationModel.load(DEFAULT_MODEL)


DETECTOR = CrisisDetector()
