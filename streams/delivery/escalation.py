"""Escalation policies as data: who else is paged when nobody acknowledges an alert in time.

    escalations:
      - match: {min_severity: critical}
        steps:
          - {after_seconds: 300, receivers: [oncall-secondary]}
          - {after_seconds: 900, receivers: [head-of-clinical]}

The first policy that matches an alert applies (as in grafana/oncall, the policy is
configuration, not code). Its clock starts when the delivery path first sends the alert out
(the moment the first on-call was paged, not the alert's ``created_at``: a worker that was down
for an hour would otherwise page every step at once). A step's ``after_seconds`` counts from that
start; each step fires once, sending the alert to its receivers through the ordinary delivery
jobs (so retries, the delivery dead-letter topic and the delivered set apply to it). An
acknowledgement or resolution from the console ends the escalation.

The clock is a record in the ``escalations`` table (changelogged, in the partition of the
alert's conversation), read by a timer on every worker; only the worker that owns the partition
acts on it (``streams.delivery.oncall``). This module holds the config and the
decisions, free of Faust.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from streams.contracts import Alert
from streams.delivery.models import Match, StrictModel

Standing = Literal["pending", "escalated", "exhausted"]
STANDINGS: tuple[Standing, ...] = ("pending", "escalated", "exhausted")


class EscalationStep(StrictModel):
    after_seconds: float = Field(gt=0, description="From the first notification of the alert.")
    receivers: list[str] = Field(min_length=1)


class EscalationPolicy(StrictModel):
    match: Match = Field(default_factory=Match)
    steps: list[EscalationStep] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _steps_in_order(self) -> EscalationPolicy:
        for index in range(1, len(self.steps)):
            before, step = self.steps[index - 1].after_seconds, self.steps[index].after_seconds
            if step <= before:
                raise ValueError(
                    f"steps[{index}].after_seconds: {step:g} must be later than steps[{index - 1}] ({before:g})"
                )
        return self


def policy_for(policies: list[EscalationPolicy], alert: Alert) -> int | None:
    """The index of the first policy matching the alert, or None."""
    for index, policy in enumerate(policies):
        if policy.match.matches(alert.detector, alert.rule, alert.severity):
            return index
    return None


def start_clock(
    previous: dict[str, Any] | None, alert: Alert, policy: int, now: float, partition: int
) -> dict[str, Any]:
    """The escalation record for an alert being sent out. An alert seen again (a redelivery, or
    the same episode at a higher severity) keeps its clock and its fired steps; only its copy of
    the alert is refreshed, so a later step sends the newest severity."""
    if previous is not None:
        return {**previous, "alert": alert.model_dump(mode="json")}
    return {
        "alert": alert.model_dump(mode="json"),
        "policy": policy,
        "started": now,
        "fired": 0,
        "partition": partition,
    }


def due_step(entry: dict[str, Any], policy: EscalationPolicy, now: float) -> int | None:
    """The next step to fire (0-based) when its time has come, else None."""
    fired = entry["fired"]
    if fired >= len(policy.steps):
        return None
    return fired if now >= entry["started"] + policy.steps[fired].after_seconds else None


def after_firing(entry: dict[str, Any], step: int) -> dict[str, Any]:
    """The record once ``step`` has fired (never moves backwards: a repeated request is a no-op)."""
    return {**entry, "fired": max(entry["fired"], step + 1)}


def standing(entry: dict[str, Any], policy: EscalationPolicy) -> Standing:
    """pending: no step fired yet; escalated: some fired, more to come; exhausted: all fired and
    still nobody acknowledged (what ``TurnwatchAlertUnacknowledgedAfterEscalation`` pages on)."""
    if entry["fired"] == 0:
        return "pending"
    return "exhausted" if entry["fired"] >= len(policy.steps) else "escalated"


def waited(seconds: float) -> str:
    """A step's wait in words, for the message the step's receivers get: '5 min', '90 s', '2 h'."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def step_note(policy: EscalationPolicy, step: int) -> str:
    return f"Escalated (step {step + 1}): not acknowledged within {waited(policy.steps[step].after_seconds)}"
