"""What leaves the worker: evidence cut to the configured length, identifiers redacted."""

from __future__ import annotations

import re

from streams.contracts import Alert
from streams.delivery.config import Redaction

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")
PHONE = re.compile(r"(?<!\w)(\+?\d[\d ()-]{7,}\d)(?!\w)")


class Redactor:
    def __init__(self, rules: Redaction, excerpt_chars: int) -> None:
        self.patterns = ([EMAIL] if rules.emails else []) + ([PHONE] if rules.phones else [])
        self.patterns += [re.compile(p) for p in rules.patterns]
        self.excerpt_chars = excerpt_chars

    def text(self, value: str, limit: int | None = None) -> str:
        for pattern in self.patterns:
            value = pattern.sub("[redacted]", value)
        if limit is not None and len(value) > limit:
            value = value[: max(0, limit - 1)].rstrip() + "…"
        return value

    def alert(self, alert: Alert) -> Alert:
        """A copy of the alert with every free-text field redacted and quotes shortened."""
        evidence = [
            item.model_copy(update={"quote": self.text(item.quote, self.excerpt_chars), "why": self.text(item.why)})
            for item in alert.evidence
        ]
        return alert.model_copy(update={"summary": self.text(alert.summary), "evidence": evidence})
