"""The values a detector returns: findings with their evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

SEVERITY_NAMES: tuple[str, ...] = ("info", "warning", "high", "critical")  # lowest first


class Severity(IntEnum):
    """Ordered severities; higher means more harm if nobody looks."""

    INFO = 1
    WARNING = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {value!r}") from None


@dataclass(frozen=True)
class Evidence:
    """One turn that supports a finding, with a short quote and why it matters."""

    turn_index: int
    role: str
    quote: str
    why: str


@dataclass(frozen=True)
class Finding:
    """Something a detector saw in a conversation.

    ``episode`` names the episode the finding belongs to ("" = one episode per rule per
    conversation); ``opened_at`` is the turn that opens it if it is new; ``recurring`` says each
    new episode matters on its own (otherwise a new episode at a severity already alerted for the
    rule stays quiet). The pipeline decides whether a finding becomes an alert (one alert per
    episode, again only at a higher severity, see ``streams.monitor.episodes``); detectors keep no alert
    bookkeeping of their own.
    """

    detector: str
    rule: str
    severity: Severity
    opened_at: int
    turns: tuple[int, ...]
    evidence: tuple[Evidence, ...]
    summary: str
    suggested_action: str
    score: float = 1.0
    taxonomy: tuple[str, ...] = field(default_factory=tuple)
    episode: str = ""
    recurring: bool = False  # every new episode alerts, even at a severity already seen


def excerpt(text: str, limit: int = 160) -> str:
    """A short single-line quote of ``text`` for evidence."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"
