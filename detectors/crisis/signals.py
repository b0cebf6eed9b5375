"""What the crisis head says about one patient turn: the judged sentences and the decision.

Declared as the turn feature ``crisis`` (changelog key ``crisis``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from detectors.crisis.evidence import Piece
from detectors.features import register_feature


class CrisisDecision(StrEnum):
    """What the calibrated crisis risk of a turn asks for, most urgent first."""

    PAGE = "page"  # current first-person risk above the paging threshold: a human must look now
    REVIEW = "review"  # possible current risk, below the paging threshold: review queue
    HISTORY = "history"  # risk told as past: a lower flag
    NONE = "none"


@dataclass(frozen=True)
class RiskSentence:
    """One judged sentence: where it is in the turn and its calibrated probabilities.

    ``current`` is P(the patient describes their own risk, now or recently); ``history`` is
    P(their own risk, in the past); ``kind`` the most probable current kind; ``steps[k-1]`` is
    P(C-SSRS suicidal step ≥ k) for k = 1 (wish to be dead) … 5 (preparatory behaviour).
    """

    start: int
    end: int
    kind: str
    current: float
    history: float
    steps: tuple[float, ...] = ()

    def quote(self, text: str) -> str:
        return text[self.start : self.end]

    def to_dict(self) -> dict[str, Any]:
        return {
            "s": [self.start, self.end],
            "k": self.kind,
            "c": self.current,
            "h": self.history,
            "st": list(self.steps),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RiskSentence:
        return cls(data["s"][0], data["s"][1], data["k"], data["c"], data["h"], tuple(data.get("st", ())))


@register_feature("crisis", "crisis")
@dataclass(frozen=True)
class CrisisSignals:
    decision: CrisisDecision = CrisisDecision.NONE
    sentences: tuple[RiskSentence, ...] = ()  # the turn's riskiest sentences, most current risk first
    paged_kinds: tuple[str, ...] = ()  # kinds of the sentences above the paging threshold
    evidence: tuple[Piece, ...] = ()  # the turn's evidence channels and risk sentences (``evidence``)
    safety: bool = False  # a clear safety statement and no new risk in the turn
    conversation_paged: bool = False  # the conversation's gathered evidence paged on this turn (cumulative risk)

    @property
    def paged(self) -> bool:
        return self.decision is CrisisDecision.PAGE

    @property
    def paged_here(self) -> bool:
        """A critical page on this turn, by one sentence or by the conversation's gathered evidence."""
        return self.paged or self.conversation_paged

    @property
    def raised(self) -> bool:
        """Any crisis concern at all (page, review or history)."""
        return self.decision is not CrisisDecision.NONE

    @property
    def top(self) -> RiskSentence | None:
        return self.sentences[0] if self.sentences else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "d": self.decision.value,
            "s": [s.to_dict() for s in self.sentences],
            "p": list(self.paged_kinds),
        }
        if self.evidence:
            out["e"] = [piece.to_list() for piece in self.evidence]
        if self.safety:
            out["safe"] = True
        if self.conversation_paged:
            out["cp"] = True
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrisisSignals:
        return cls(
            CrisisDecision(data["d"]),
            tuple(RiskSentence.from_dict(s) for s in data.get("s", ())),
            tuple(data.get("p", ())),
            tuple(Piece.from_list(e) for e in data.get("e", ())),
            bool(data.get("safe", False)),
            bool(data.get("cp", False)),
        )
