"""The on-call lifecycle after the page: reviewer actions sent on to the paging receivers, and
escalation steps when nobody acknowledges in time.

    turnwatch.verdicts (key alert_id) ─> sync: acknowledge / resolve ─┐
    escalation clock (a timer on every worker; owned partitions) ─────┴─> <app_id>-delivery-updates (key conversation_id)
    <app_id>-delivery-updates ─> follow: verdict  ─> lifecycle moved, escalation ended ─> an update job per paged receiver
                                         escalate ─> step still due and nobody acked?  ─> a page job per step receiver

Why the hop through an internal topic: delivery's state (the lifecycle and escalation records,
the delivered set, Slack message refs) lives in the partition of the alert's conversation,
since alerts are keyed by conversation_id; verdicts are keyed by alert_id, and a Faust table can
only be written from a stream of the table's own partition (the timer has no stream at all).
So both become records keyed by conversation_id on a topic co-partitioned with the alerts
topic, and one agent, on the worker that owns the partition, changes the state. The producer's
partitioner (murmur2 of the key, as for the alerts topic) puts them in the same partition.

Every record is idempotent: a verdict that moves nothing and a step already fired are dropped,
so a redelivered verdict or a timer that asked twice changes nothing, and the jobs go through the
delivered set like every page. The timer only reads; it asks again if a step is still due
``REASK_SECONDS`` later (the record may have been lost with a worker).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust

from streams import metrics
from streams.contracts import Alert, VerdictEvent
from streams.delivery.config import DeliveryConfig
from streams.delivery.escalation import STANDINGS, after_firing, due_step, standing, step_note
from streams.delivery.lifecycle import MOVES, apply_verdict
from streams.delivery.silences import SilenceBook
from streams.delivery.sinks import BaseNotifier
from streams.delivery.stages import DeliveryJob
from streams.settings import Settings
from streams.topology import declare_topic
from streams.vocabulary import SEVERITIES

log = logging.getLogger(__name__)

CLOCK_SECONDS = 1.0
REASK_SECONDS = 30.0


@dataclass
class DeliveryPath:
    """What the on-call agents share with the delivery agents (built by ``register_delivery``)."""

    run_job: Callable[[DeliveryJob], Awaitable[None]]
    still_owned: Callable[[faust.StreamT], bool]
    dead_letter: Callable[[faust.StreamT, bytes, str, Exception], Awaitable[None]]
    notifiers: dict[str, BaseNotifier]
    silences: SilenceBook
    lifecycle: Any  # faust Table: alert_id -> lifecycle record
    escalations: Any  # faust Table: alert_id -> escalation clock
    updates: faust.TopicT


def verdict_record(verdict: VerdictEvent) -> bytes:
    return json.dumps({"kind": "verdict", "verdict": verdict.model_dump(mode="json")}).encode()


def escalate_record(alert_id: str, step: int) -> bytes:
    return json.dumps({"kind": "escalate", "alert_id": alert_id, "step": step}).encode()


def read_update(raw: bytes) -> VerdictEvent | tuple[str, int]:
    """A record of the updates topic: a verdict, or (alert_id, step) to escalate. Raises ValueError."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("an update is a JSON object")
    if data.get("kind") == "verdict":
        return VerdictEvent.model_validate(data.get("verdict"))
    if data.get("kind") == "escalate" and isinstance(data.get("alert_id"), str) and isinstance(data.get("step"), int):
        return data["alert_id"], data["step"]
    raise ValueError(f"unknown update kind {data.get('kind')!r}")


def register_oncall(app: faust.App, settings: Settings, config: DeliveryConfig, path: DeliveryPath) -> None:
    # Declared internal so that Faust creates it when no console has yet (the console creates it too).
    verdicts = declare_topic(app, "verdicts", settings, internal=True)
    updates = path.updates
    asked: dict[tuple[str, int], float] = {}

    async def on_verdict(verdict: VerdictEvent) -> None:
        entry, moved = apply_verdict(path.lifecycle.get(verdict.alert_id), verdict)
        if not moved:
            return
        path.lifecycle[verdict.alert_id] = entry
        if path.escalations.get(verdict.alert_id) is not None:
            del path.escalations[verdict.alert_id]
        log.info(
            "alert %s in the console",
            entry["status"],
            extra={"alert_id": verdict.alert_id, "action_id": verdict.action_id, "receivers": len(entry["receivers"])},
        )
        if entry["alert"] is None:
            return  # not paged yet: the page that follows carries the status (see lifecycle.pending_update)
        alert = Alert.model_validate(entry["alert"])
        for name in entry["receivers"]:
            job = DeliveryJob(alert, name, action=verdict.action, actor=verdict.actor, action_id=verdict.action_id)
            await path.run_job(job)

    async def on_escalate(alert_id: str, step: int) -> None:
        entry = path.escalations.get(alert_id)
        if entry is None or entry["fired"] != step:
            return  # ended by a reviewer, or this step already fired
        if entry["policy"] >= len(config.escalations):
            del path.escalations[alert_id]  # the policy is gone from the config
            return
        policy = config.escalations[entry["policy"]]
        if due_step(entry, policy, time.time()) != step:
            return
        alert = Alert.model_validate(entry["alert"])
        silence = path.silences.silencing(alert, datetime.now(UTC))
        if silence is None:
            note = step_note(policy, step)
            for name in policy.steps[step].receivers:
                await path.run_job(DeliveryJob(alert, name, note=note))
            metrics.ESCALATIONS.labels(str(step + 1)).inc()
            log.warning("alert escalated", extra={"alert_id": alert_id, "step": step + 1})
        else:
            for name in policy.steps[step].receivers:
                metrics.DELIVERIES.labels(path.notifiers[name].kind, "silenced").inc()
            log.info(
                "escalation step silenced",
                extra={"alert_id": alert_id, "step": step + 1, "silence_id": silence.silence_id},
            )
        current = path.escalations.get(alert_id)
        if current is not None:
            path.escalations[alert_id] = after_firing(current, step)

    @app.agent(verdicts, name="sync")
    async def sync(stream: faust.StreamT) -> None:
        async for raw in stream:
            if not path.still_owned(stream):
                continue
            try:
                verdict = VerdictEvent.model_validate_json(raw)
            except ValueError as exc:  # ValidationError included
                await path.dead_letter(stream, raw, "unreadable_verdict", exc)
                continue
            if verdict.action in MOVES:
                await updates.send(key=verdict.conversation_id.encode(), value=verdict_record(verdict))

    @app.agent(updates, name="follow")
    async def follow(stream: faust.StreamT) -> None:
        async for raw in stream:
            if not path.still_owned(stream):
                continue
            try:
                record = read_update(raw)
            except ValueError as exc:
                await path.dead_letter(stream, raw, "unreadable_update", exc)
                continue
            try:
                if isinstance(record, VerdictEvent):
                    await on_verdict(record)
                else:
                    await on_escalate(*record)
            except Exception as exc:  # a bug here must not stop the updates behind this one
                log.exception("an on-call update raised")
                await path.dead_letter(stream, raw, "internal_error", exc)

    @app.timer(interval=CLOCK_SECONDS)
    async def escalation_clock() -> None:
        """Ask for every step that is due on this worker's partitions; export where they stand."""
        if app.consumer is None or app.rebalancing:
            return
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == updates.get_topic_name()}
        now = time.time()
        counts: Counter[tuple[str, str]] = Counter()
        for alert_id, entry in list(path.escalations.items()):
            if entry is None or entry["partition"] not in owned or entry["policy"] >= len(config.escalations):
                continue
            policy = config.escalations[entry["policy"]]
            counts[(entry["alert"]["severity"], standing(entry, policy))] += 1
            step = due_step(entry, policy, now)
            if step is None or now - asked.get((alert_id, step), 0.0) < REASK_SECONDS:
                continue
            asked[(alert_id, step)] = now
            key = entry["alert"]["conversation_id"].encode()
            await updates.send(key=key, value=escalate_record(alert_id, step), partition=entry["partition"])
        for asked_for, at in list(asked.items()):
            if now - at > 2 * REASK_SECONDS:
                del asked[asked_for]
        for severity in SEVERITIES:
            for name in STANDINGS:
                metrics.UNACKNOWLEDGED_ALERTS.labels(severity, name).set(counts[(severity, name)])
