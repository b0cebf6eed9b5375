"""The alert chain, one object per stage, composed as Alertmanager composes its notify pipeline:

    read ─> redact ─> route ─> silence ─> inhibit ─> cooldown ─> track ─> mark source ─> start escalation
         ─> one job per receiver (``streams.delivery.job_stages``)

A stage owns its decision, the state it keeps (a table, passed in: any mutable mapping) and what
it counts, is built with what it needs, and returns False to stop the alert there. The delivery
agent only builds and wires them; tests drive each alone with plain dicts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import faust

from streams import metrics
from streams.contracts import Alert
from streams.delivery.config import DeliveryConfig
from streams.delivery.escalation import EscalationPolicy, policy_for, start_clock
from streams.delivery.inhibit import InhibitRule, inhibiting_rule, source_keys, source_record
from streams.delivery.lifecycle import track
from streams.delivery.redact import Redactor
from streams.delivery.silences import SilenceBook, SilenceReader
from streams.delivery.stages import cooldown_decision, cooldown_key

log = logging.getLogger(__name__)
Clock = Callable[[], float]
Table = MutableMapping[str, Any]


@dataclass
class AlertInFlight:
    alert: Alert
    receivers: list[str] = field(default_factory=list)


class AlertStage(Protocol):
    async def __call__(self, item: AlertInFlight) -> bool: ...


def held_back(kinds: Mapping[str, str], item: AlertInFlight, outcome: str) -> bool:
    """Count an alert that goes no further under ``outcome``, once per receiver it would have reached."""
    for name in item.receivers:
        metrics.DELIVERIES.labels(kinds[name], outcome).inc()
    return False


@dataclass
class Redact:
    """Only the excerpts reviewers need leave the worker (``redact`` in the delivery config)."""

    redactor: Redactor

    async def __call__(self, item: AlertInFlight) -> bool:
        item.alert = self.redactor.alert(item.alert)
        return True


@dataclass
class Route:
    """The receivers of the first route that matches; an alert no route takes stops here."""

    config: DeliveryConfig

    async def __call__(self, item: AlertInFlight) -> bool:
        item.receivers = self.config.route(item.alert.detector, item.alert.rule, item.alert.severity)
        return bool(item.receivers)


@dataclass
class Silence:
    """A silence in force holds the alert back; until the silences topic has been read once, alerts
    go out (a missed page is worse than a silenced one sent) with one warning."""

    book: SilenceBook
    reader: SilenceReader
    kinds: Mapping[str, str]
    topic: str
    warned: bool = False

    async def __call__(self, item: AlertInFlight) -> bool:
        if not await self.reader.wait_ready() and not self.warned:
            self.warned = True
            log.warning("silences not read yet; notifying without them", extra={"topic": self.topic})
        found = self.book.silencing(item.alert, datetime.now(UTC))
        if found is None:
            return True
        log.info("alert silenced", extra={"alert_id": item.alert.alert_id, "silence_id": found.silence_id})
        return held_back(self.kinds, item, "silenced")


@dataclass
class Inhibit:
    """A recent higher-severity source alert of the same conversation quiets this one (inhibition rules)."""

    rules: list[InhibitRule]
    sources: Table
    kinds: Mapping[str, str]
    clock: Clock = time.time

    async def __call__(self, item: AlertInFlight) -> bool:
        rule = inhibiting_rule(self.rules, self.sources.get, item.alert, self.clock())
        if rule is None:
            return True
        log.info("alert inhibited", extra={"alert_id": item.alert.alert_id, "inhibit_rule": rule})
        return held_back(self.kinds, item, "inhibited")


@dataclass
class Cooldown:
    """One notification per conversation and rule per cooldown, unless the alert escalated."""

    cooldowns: Table
    seconds: float
    kinds: Mapping[str, str]
    clock: Clock = time.time

    async def __call__(self, item: AlertInFlight) -> bool:
        key = cooldown_key(item.alert)
        go, entry = cooldown_decision(
            self.cooldowns.get(key), item.alert.alert_id, item.alert.severity, self.clock(), self.seconds
        )
        if not go:
            return held_back(self.kinds, item, "suppressed")
        self.cooldowns[key] = entry
        return True


@dataclass
class TrackLifecycle:
    """An alert a reviewer's action must reach (a receiver takes updates) or that may escalate gets
    its on-call record, holding the newest copy sent."""

    lifecycle: Table
    takes_updates: Mapping[str, bool]
    policies: list[EscalationPolicy]

    async def __call__(self, item: AlertInFlight) -> bool:
        alert = item.alert
        if any(self.takes_updates[n] for n in item.receivers) or policy_for(self.policies, alert) is not None:
            self.lifecycle[alert.alert_id] = track(self.lifecycle.get(alert.alert_id), alert)
        return True


@dataclass
class MarkSource:
    """Remember the alert as a possible inhibition source for its conversation's lower alerts."""

    rules: list[InhibitRule]
    sources: Table
    clock: Clock = time.time

    async def __call__(self, item: AlertInFlight) -> bool:
        now = self.clock()
        for key in source_keys(self.rules, item.alert):
            self.sources[key] = source_record(self.sources.get(key), item.alert, now)
        return True


def current_partition() -> int:
    return faust.current_event().message.partition


@dataclass
class StartEscalation:
    """Start the escalation clock of an alert a policy covers, unless a reviewer already has it."""

    policies: list[EscalationPolicy]
    lifecycle: Table
    escalations: Table
    clock: Clock = time.time
    partition: Callable[[], int] = current_partition

    async def __call__(self, item: AlertInFlight) -> bool:
        alert = item.alert
        policy = policy_for(self.policies, alert)
        entry = self.lifecycle.get(alert.alert_id)
        if policy is None or (entry is not None and entry["status"] != "open"):
            return True
        self.escalations[alert.alert_id] = start_clock(
            self.escalations.get(alert.alert_id), alert, policy, self.clock(), self.partition()
        )
        return True
