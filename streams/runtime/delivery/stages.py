"""The decisions of the delivery path, each a small pure function (the agent does the I/O and
runs them in the order its stage chains give)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from streams.contracts import Alert
from streams.runtime.delivery.config import SEVERITIES


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


@dataclass
class DeliveryJob:
    """One alert for one receiver; travels through the retry topic between attempts."""

    alert: Alert
    receiver: str
    attempt: int = 1
    not_before: float = 0.0
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.model_dump(mode="json"),
            "receiver": self.receiver,
            "attempt": self.attempt,
            "not_before": self.not_before,
            "last_error": self.last_error,
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
        )
