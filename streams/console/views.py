"""What the console's store hands to its pages: plain, typed values (no ORM objects escape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from streams.contracts import Alert
from streams.vocabulary import SEVERITY_RANK

Status = Literal["open", "acknowledged", "resolved"]
Verdict = Literal["true_positive", "false_positive", "unsure", "wrong_severity", "wrong_rule"]
Action = Literal["acknowledge", "resolve", "verdict", "assign", "reopen"]
__all__ = ["SEVERITY_RANK", "ActionRecord", "AlertFilter", "AlertSummary", "AlertView", "SavedAlert", "StoredTurn"]


@dataclass(frozen=True)
class AlertFilter:
    """Feed filters; None means any."""

    severities: tuple[str, ...] | None = None
    detector: str | None = None
    rule: str | None = None
    status: Status | None = None
    limit: int = 200


@dataclass(frozen=True)
class AlertSummary:
    """One feed row: no turn text, no evidence quotes."""

    alert_id: str
    conversation_id: str
    detector: str
    rule: str
    severity: str
    summary: str
    created_at: datetime
    status: Status
    verdict: Verdict | None
    assignee: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "conversation_id": self.conversation_id,
            "detector": self.detector,
            "rule": self.rule,
            "severity": self.severity,
            "summary": self.summary,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "verdict": self.verdict,
            "assignee": self.assignee,
        }


@dataclass(frozen=True)
class StoredTurn:
    conversation_id: str
    turn_index: int
    role: str
    text: str
    ts: datetime
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionRecord:
    """One row of the audit log."""

    action_id: str
    alert_id: str
    action: Action
    verdict: Verdict | None
    note: str
    actor: str
    role: str
    at: datetime
    detail: str | None = None  # who took the alert (assign); what it should have been (a corrected verdict)
    stale: bool = False  # a verdict given before the alert escalated and was reopened


@dataclass(frozen=True)
class SavedAlert:
    """What storing an alert changed: ``new``, ``escalated`` (still open) or ``reopened`` (it had been
    handled); ``summary`` is the row as stored, which the live feed shows."""

    summary: AlertSummary
    change: Literal["new", "escalated", "reopened"]


@dataclass(frozen=True)
class AlertView:
    """An alert page: the alert, its review state, its conversation's stored turns, its audit log."""

    alert: Alert
    status: Status
    verdict: Verdict | None
    verdict_note: str
    turns: list[StoredTurn]
    actions: list[ActionRecord]
    assignee: str | None = None
    verdict_detail: str | None = None
    conversation_alerts: list[AlertSummary] = field(default_factory=list)  # the conversation's other alerts


@dataclass(frozen=True)
class ConversationSummary:
    """One row of the queue: a conversation's alerts taken together (no text)."""

    conversation_id: str
    worst_severity: str
    alerts: int
    open_alerts: int
    newest: datetime  # the latest alert's created_at
    oldest_open: datetime | None  # how long the conversation has waited for a reviewer
    rules: tuple[str, ...]
    assignees: tuple[str, ...]
    top_alert_id: str  # the worst, newest alert: the page a reviewer opens first
    top_summary: str
