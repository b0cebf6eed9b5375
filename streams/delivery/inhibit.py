"""Inhibition as data, as in Alertmanager: an alert that was sent out mutes later alerts that
match a target matcher and share the ``equal`` labels with it, for ``window_seconds``.

    inhibit_rules:
      - source: {min_severity: critical}
        target: {max_severity: high}
        equal: [conversation_id]
        window_seconds: 3600

Here: once a conversation has paged critical, its high-and-below alerts of the next hour are not
notified (the reviewer is already in that conversation; the console still lists them, since it
reads the alerts topic itself). Counted in ``turnwatch_deliveries_total{outcome="inhibited"}``.

What a source leaves behind is a record in the ``inhibitions`` table, keyed by the rule and the
values of its ``equal`` labels. Delivery state lives in the partition of the alert's
conversation, so ``equal`` must include ``conversation_id``: a source from another conversation
may be on another worker, and a rule that needed it would inhibit on one worker and not on the
next. Only alerts that were sent out are sources (a silenced or inhibited one mutes nothing),
and an alert never inhibits itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import Field, field_validator

from streams.contracts import Alert
from streams.delivery.models import Match, StrictModel

Label = Literal["conversation_id", "detector", "rule"]


class InhibitRule(StrictModel):
    source: Match
    target: Match
    equal: list[Label] = Field(default_factory=lambda: ["conversation_id"])
    window_seconds: float = Field(default=3600, gt=0)

    @field_validator("equal")
    @classmethod
    def _per_conversation(cls, equal: list[Label]) -> list[Label]:
        if "conversation_id" not in equal:
            raise ValueError(
                "must include conversation_id: delivery keeps its state in the partition of the alert's "
                "conversation, so a source in another conversation cannot be seen"
            )
        return equal

    def key(self, index: int, alert: Alert) -> str:
        return "|".join([str(index), *(getattr(alert, label) for label in self.equal)])


def source_keys(rules: list[InhibitRule], alert: Alert) -> list[str]:
    """The ``inhibitions`` keys an alert that was sent out sets, one per rule it is a source of."""
    return [
        rule.key(index, alert)
        for index, rule in enumerate(rules)
        if rule.source.matches(alert.detector, alert.rule, alert.severity)
    ]


def source_record(previous: dict[str, Any] | None, alert: Alert, now: float) -> dict[str, Any]:
    """The same alert seen again (at-least-once processing) keeps the time it was first sent."""
    if previous is not None and previous.get("alert_id") == alert.alert_id:
        return previous
    return {"alert_id": alert.alert_id, "at": now}


def inhibiting_rule(
    rules: list[InhibitRule], lookup: Callable[[str], dict[str, Any] | None], alert: Alert, now: float
) -> int | None:
    """The index of the first rule whose source, sent within its window, mutes this alert."""
    for index, rule in enumerate(rules):
        if not rule.target.matches(alert.detector, alert.rule, alert.severity):
            continue
        source = lookup(rule.key(index, alert))
        if source is None or source.get("alert_id") == alert.alert_id:
            continue
        if now - source["at"] < rule.window_seconds:
            return index
    return None
