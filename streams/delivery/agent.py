"""The delivery agents: ``deliver`` reads alerts, ``redeliver`` reads the retry topic.

Pending retries live in the retry topic (not in memory), so they survive restarts; the
delivered set and the cooldown live in Faust tables (changelogged). After the last attempt a
job goes to the delivery dead-letter topic with the reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
import faust

from streams import metrics
from streams.delivery.config import DeliveryConfig
from streams.delivery.redact import Redactor
from streams.delivery.sinks import build_notifier
from streams.delivery.stages import DeliveryJob, backoff_seconds, cooldown_decision, cooldown_key, delivered_key
from streams.settings import Settings

log = logging.getLogger(__name__)


def register_delivery(app: faust.App, settings: Settings, config: DeliveryConfig, alerts: faust.TopicT) -> None:
    secrets = config.secrets()
    notifiers = {r.name: build_notifier(r, secrets.get(r.name), config.conversation_url) for r in config.receivers}
    redactor = Redactor(config.redact, config.excerpt_chars)
    retries = app.topic(settings.delivery_retry_topic, key_serializer="raw", value_serializer="raw",
                        partitions=settings.partitions)
    dead_letters = app.topic(settings.delivery_dlq_topic, key_serializer="raw", value_serializer="raw",
                             partitions=settings.partitions)
    delivered = app.Table("delivered", default=None, partitions=settings.partitions)
    cooldowns = app.Table("cooldowns", default=None, partitions=settings.partitions)
    http: dict[str, aiohttp.ClientSession] = {}

    def session() -> aiohttp.ClientSession:
        if "session" not in http:
            http["session"] = aiohttp.ClientSession()
        return http["session"]

    async def attempt(job: DeliveryJob) -> None:
        notifier = notifiers.get(job.receiver)
        key = delivered_key(job.alert, job.receiver)
        if notifier is None:
            await dead_letter(job, f"receiver {job.receiver!r} is no longer configured")
            return
        if delivered.get(key):
            metrics.DELIVERIES.labels(notifier.kind, "duplicate").inc()
            return
        started = time.perf_counter()
        outcome = await notifier.notify(session(), job.alert)
        metrics.DELIVERY_SECONDS.labels(notifier.kind).observe(time.perf_counter() - started)
        if outcome.delivered:
            delivered[key] = time.time()
            # Durable before the next alert is read: a crash re-sends at most the delivery in flight
            # (receivers dedup on the Idempotency-Key header), not every one since the last commit.
            await app.producer.flush()
            metrics.DELIVERIES.labels(notifier.kind, "delivered").inc()
            log.info("alert delivered", extra={"alert_id": job.alert["alert_id"], "receiver": job.receiver,
                                                "attempt": job.attempt})
        elif outcome.retry and job.attempt < config.max_attempts:
            delay = backoff_seconds(job.attempt, config.backoff_initial_seconds, config.backoff_max_seconds)
            retry = DeliveryJob(job.alert, job.receiver, job.attempt + 1, time.time() + delay, outcome.detail)
            await retries.send(key=job.alert["conversation_id"].encode(), value=json.dumps(retry.to_dict()).encode())
            metrics.DELIVERIES.labels(notifier.kind, "retried").inc()
            log.warning("delivery failed, will retry", extra={"alert_id": job.alert["alert_id"], "receiver": job.receiver,
                                                             "attempt": job.attempt, "detail": outcome.detail})
        else:
            metrics.DELIVERIES.labels(notifier.kind, "failed").inc()
            reason = "retries exhausted" if outcome.retry else "not retryable"
            await dead_letter(job, f"{reason} after {job.attempt} attempt(s): {outcome.detail}")

    def still_owned(stream: faust.StreamT) -> bool:
        """False when the event's partition has moved to another worker during a rebalance: the
        new owner resumes from the last commit and delivers it; delivering here too would send
        the same alert twice."""
        event = stream.current_event
        return event is None or app.consumer is None or event.message.tp in app.consumer.assignment()

    async def attempt_or_dead_letter(job: DeliveryJob) -> None:
        """A sink bug must not lose the alert: the job goes to the delivery DLQ with the error."""
        try:
            await attempt(job)
        except Exception as exc:
            log.exception("delivery attempt raised")
            metrics.DELIVERIES.labels(notifiers[job.receiver].kind if job.receiver in notifiers else "unknown", "failed").inc()
            await dead_letter(job, f"internal error: {type(exc).__name__}")

    async def dead_letter(job: DeliveryJob, reason: str) -> None:
        record = {"reason": reason, "job": job.to_dict()}
        await dead_letters.send(key=job.alert["conversation_id"].encode(), value=json.dumps(record).encode())
        log.error("delivery dead-lettered", extra={"alert_id": job.alert["alert_id"], "receiver": job.receiver,
                                                   "reason": reason})

    @app.agent(alerts, name="deliver")
    async def deliver(stream: faust.StreamT) -> None:
        async for raw in stream:
            if not still_owned(stream):
                continue
            try:
                alert = redactor.alert(json.loads(raw))
                key = cooldown_key(alert)
                go, entry = cooldown_decision(cooldowns.get(key), alert["alert_id"], alert["severity"], time.time(),
                                              config.cooldown_seconds)
                receivers = config.route(alert["detector"], alert["rule"], alert["severity"])
                if not go:
                    for name in receivers:
                        metrics.DELIVERIES.labels(notifiers[name].kind, "suppressed").inc()
                    continue
                cooldowns[key] = entry
                for name in receivers:
                    await attempt_or_dead_letter(DeliveryJob(alert, name))
            except Exception:  # an alert that cannot even be read must not stop the others
                log.exception("an alert could not be read for delivery")

    @app.agent(retries, name="redeliver")
    async def redeliver(stream: faust.StreamT) -> None:
        async for raw in stream:
            try:
                job = DeliveryJob.from_dict(json.loads(raw))
                wait = job.not_before - time.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if still_owned(stream):
                    await attempt_or_dead_letter(job)
            except Exception:
                log.exception("a retry job could not be read")

    @app.task
    async def _close_http_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if "session" in http:
                await http["session"].close()
