"""The job chain: one receiver's notification of one alert (a page, or a reviewer's update),
one object per stage, each returning False to stop the job there:

    receiver configured ─> not yet delivered ─> still current ─> notify ─> delivered | retry later | dead letter

Pages from the alert chain (``streams.delivery.alert_stages``), jobs back from the retry topic and
the on-call updates (``streams.delivery.oncall``) all run through ``JobChain``, so every kind is
retried, dead-lettered and deduplicated alike.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from streams import metrics
from streams.delivery.lifecycle import add_receiver, pending_update, superseded, track
from streams.delivery.sinks import BaseNotifier, Notice
from streams.delivery.stages import DeliveryJob, backoff_seconds, message_key

log = logging.getLogger(__name__)
Table = MutableMapping[str, Any]
DeadLetterJob = Callable[[DeliveryJob, str, str], Awaitable[None]]


class JobStage(Protocol):
    async def __call__(self, job: DeliveryJob) -> bool: ...


@dataclass
class ReceiverConfigured:
    """A job for a receiver removed from the config since it was queued is dead-lettered."""

    notifiers: Mapping[str, BaseNotifier]
    dead_letter: DeadLetterJob

    async def __call__(self, job: DeliveryJob) -> bool:
        if job.receiver in self.notifiers:
            return True
        await self.dead_letter(job, "receiver_removed", f"receiver {job.receiver!r} is no longer configured")
        return False


@dataclass
class NotYetDelivered:
    """The delivered set: a redelivered alert or job (after a crash or a rebalance) is sent once."""

    delivered: Table
    notifiers: Mapping[str, BaseNotifier]

    async def __call__(self, job: DeliveryJob) -> bool:
        if self.delivered.get(job.key):
            metrics.DELIVERIES.labels(self.notifiers[job.receiver].kind, "duplicate").inc()
            return False
        return True


@dataclass
class StillCurrent:
    """A receiver that shows the alert's state must not be turned back by a notice that waited in
    the retry topic while the alert moved on (see ``lifecycle.superseded``)."""

    lifecycle: Table
    notifiers: Mapping[str, BaseNotifier]

    async def __call__(self, job: DeliveryJob) -> bool:
        notifier = self.notifiers[job.receiver]
        if not notifier.takes_updates or not superseded(
            self.lifecycle.get(job.alert.alert_id), job.action, job.alert.severity
        ):
            return True
        metrics.DELIVERIES.labels(notifier.kind, "superseded").inc()
        log.info("delivery superseded", extra={"alert_id": job.alert.alert_id, "receiver": job.receiver})
        return False


@dataclass
class Retry:
    """How a failed attempt comes back: the retry topic, after an exponential backoff with jitter."""

    send: Callable[[bytes, bytes], Awaitable[Any]]
    max_attempts: int
    initial_seconds: float
    max_seconds: float


@dataclass
class Notify:
    """Send the notice; on success mark it delivered (and the Slack message ref), and if a reviewer
    acted before this page got through, send the update it still needs (``follow_up``); on failure
    queue a retry, or dead-letter the last attempt."""

    notifiers: Mapping[str, BaseNotifier]
    delivered: Table
    message_refs: Table
    lifecycle: Table
    retry: Retry
    dead_letter: DeadLetterJob
    session: Callable[[], aiohttp.ClientSession]
    flush: Callable[[], Awaitable[Any]]
    follow_up: Callable[[DeliveryJob], Awaitable[None]]  # the job chain's run (built after this stage)

    async def __call__(self, job: DeliveryJob) -> bool:
        notifier = self.notifiers[job.receiver]
        ref_key = message_key(job.alert.alert_id, job.receiver)
        ref = self.message_refs.get(ref_key) if notifier.takes_updates else None
        started = time.perf_counter()
        outcome = await notifier.send(self.session(), Notice(job.alert, job.action, job.actor, job.note, ref))
        metrics.DELIVERY_SECONDS.labels(notifier.kind).observe(time.perf_counter() - started)
        if outcome.delivered:
            await self._delivered(job, notifier, outcome.ref, ref_key)
        elif outcome.retry and job.attempt < self.retry.max_attempts:
            await self._retry(job, notifier, outcome.detail)
        else:
            metrics.DELIVERIES.labels(notifier.kind, "failed").inc()
            reason = "retries_exhausted" if outcome.retry else "not_retryable"
            await self.dead_letter(job, reason, f"after {job.attempt} attempt(s): {outcome.detail}")
        return True

    async def _delivered(self, job: DeliveryJob, notifier: BaseNotifier, ref: Any, ref_key: str) -> None:
        self.delivered[job.key] = time.time()
        if ref is not None:
            self.message_refs[ref_key] = ref
        follow_up = self._paged(job, notifier)
        # Durable before the next alert is read: a crash re-sends at most the delivery in flight
        # (receivers dedup on the Idempotency-Key header), not every one since the last commit.
        await self.flush()
        if job.action == "trigger":
            metrics.DELIVERIES.labels(notifier.kind, "delivered").inc()
        else:
            metrics.PAGING_UPDATES.labels(notifier.kind, job.action).inc()
        log.info(
            "alert delivered" if job.action == "trigger" else f"alert {job.action} delivered",
            extra={"alert_id": job.alert.alert_id, "receiver": job.receiver, "attempt": job.attempt},
        )
        if follow_up is not None:
            await self.follow_up(follow_up)

    def _paged(self, job: DeliveryJob, notifier: BaseNotifier) -> DeliveryJob | None:
        """After a page to a receiver that takes updates: remember it was paged, and return the
        update it still needs when a reviewer acted before this page got through."""
        if job.action != "trigger" or not notifier.takes_updates:
            return None
        entry = add_receiver(self.lifecycle.get(job.alert.alert_id) or track(None, job.alert), job.receiver)
        self.lifecycle[job.alert.alert_id] = entry
        action = pending_update(entry)
        if action is None:
            return None
        return DeliveryJob(job.alert, job.receiver, action=action, actor=entry["by"], action_id=entry["action_id"])

    async def _retry(self, job: DeliveryJob, notifier: BaseNotifier, detail: str) -> None:
        delay = backoff_seconds(job.attempt, self.retry.initial_seconds, self.retry.max_seconds)
        again = job.retry(time.time() + delay, detail)
        await self.retry.send(job.alert.conversation_id.encode(), json.dumps(again.to_dict()).encode())
        metrics.DELIVERIES.labels(notifier.kind, "retried").inc()
        log.warning(
            "delivery failed, will retry",
            extra={
                "alert_id": job.alert.alert_id,
                "receiver": job.receiver,
                "action": job.action,
                "attempt": job.attempt,
                "detail": detail,
            },
        )


@dataclass
class JobChain:
    """Runs a job through its stages; a sink bug must not lose the alert: the job goes to the
    delivery DLQ with the error."""

    stages: Sequence[JobStage]
    notifiers: Mapping[str, BaseNotifier]
    dead_letter: DeadLetterJob

    async def run(self, job: DeliveryJob) -> None:
        try:
            for stage in self.stages:
                if not await stage(job):
                    return
        except Exception as exc:
            log.exception("delivery attempt raised")
            kind = self.notifiers[job.receiver].kind if job.receiver in self.notifiers else "unknown"
            metrics.DELIVERIES.labels(kind, "failed").inc()
            await self.dead_letter(job, "internal_error", type(exc).__name__)
