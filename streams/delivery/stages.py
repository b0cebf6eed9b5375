"""The decisions of the delivery path, each a small pure function (the agent does the I/O and
runs them in the order its stage chains give)."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from streams.contracts import Alert
from streams.delivery.config import SEVERITIES
from streams.delivery.sinks.base import Action
from streams.vocabulary import PAGING_ACTIONS


def backoff_seconds(attempt: int, initial: float, maximum: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: half the step is fixed, half random."""
    step = min(maximum, initial * 2 ** max(0, attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


def cooldown_decision(
    previous: dict[str, Any] | None, alert_id: str, severity: str, now: float, window: float
) -> tuple[bool, dict[str, Any] | None]:
    """Deliver unless the same conversation and rule was delivered within ``window`` at the same
    or a higher severity. The same alert seen again (at-least-once processing) is not a repeat:
    it goes on, and the delivered set stops a second send. Returns (deliver, entry to store)."""
    rank = SEVERITIES.index(severity)
    if previous is not None and previous.get("alert_id") == alert_id and previous["rank"] == rank:
        return True, previous
    if previous is not None and now - previous["at"] < window and rank <= previous["rank"]:
        return False, None
    return True, {"rank": rank, "at": now, "alert_id": alert_id}


def cooldown_key(alert: Alert) -> str:
    return f"{alert.conversation_id}|{alert.rule}"


def delivered_key(alert: Alert, receiver: str) -> str:
    return f"{alert.alert_id}|{alert.severity}|{receiver}"


def message_key(alert_id: str, receiver: str) -> str:
    """Where a receiver's reference to its page of an alert is kept (Slack: channel and ts)."""
    return f"{alert_id}|{receiver}"


@dataclass
class DeliveryJob:
    """One notice for one receiver; travels through the retry topic between attempts.

    ``action`` is ``trigger`` (the page; an escalation step's page carries its ``note``) or a
    reviewer's ``acknowledge`` / ``resolve`` with the console's ``action_id`` and ``actor``.
    Jobs written before these fields existed read as triggers."""

    alert: Alert
    receiver: str
    attempt: int = 1
    not_before: float = 0.0
    last_error: str = ""
    action: Action = "trigger"
    actor: str = ""
    action_id: str = ""
    note: str = ""

    @property
    def key(self) -> str:
        """The delivered-set key: a page once per (alert, severity, receiver), an update once per
        (alert, console action, receiver)."""
        if self.action == "trigger":
            return delivered_key(self.alert, self.receiver)
        return f"{self.alert.alert_id}|{self.action}|{self.action_id}|{self.receiver}"

    def retry(self, not_before: float, error: str) -> DeliveryJob:
        return replace(self, attempt=self.attempt + 1, not_before=not_before, last_error=error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.model_dump(mode="json"),
            "receiver": self.receiver,
            "attempt": self.attempt,
            "not_before": self.not_before,
            "last_error": self.last_error,
            "action": self.action,
            "actor": self.actor,
            "action_id": self.action_id,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryJob:
        """Raises ``ValueError`` (pydantic's ``ValidationError`` among them) on a job it cannot read."""
        if not isinstance(data, dict):
            raise ValueError("a delivery job is a JSON object")
        return cls(
            alert=Alert.model_validate(data["alert"]),
            receiver=str(data["receiver"]),
            attempt=int(data["attempt"]),
            not_before=float(data["not_before"]),
            last_error=str(data.get("last_error", "")),
            action=_action(data.get("action", "trigger")),
            actor=str(data.get("actor", "")),
            action_id=str(data.get("action_id", "")),
            note=str(data.get("note", "")),
        )


def _action(value: Any) -> Action:
    if value not in PAGING_ACTIONS:
        raise ValueError(f"action: {value!r} is not trigger, acknowledge or resolve")
    return value
