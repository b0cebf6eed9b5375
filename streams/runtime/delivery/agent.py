"""The delivery agents: ``deliver`` reads alerts, ``redeliver`` reads the retry topic.

The path is two chains of stages, as in Alertmanager's notify pipeline; each stage returns
False to stop the alert (or the job) there:

    alert:    read ─> redact ─> route ─> cooldown ─> one job per receiver
    job:      receiver configured ─> not yet delivered ─> notify ─> delivered | retry later | dead letter

Pending retries live in the retry topic (not in memory), so they survive restarts; the
delivered set and the cooldown live in Faust tables (changelogged). An alert or job that cannot
be read, a sink that raises, and the last failed attempt all go to the delivery dead-letter
topic with the reason, counted in ``turnwatch_delivery_dead_letters_total``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import faust
from pydantic import ValidationError

from streams import metrics
from streams.contracts import Alert
from streams.runtime.delivery.config import DeliveryConfig
from streams.runtime.delivery.redact import Redactor
from streams.runtime.delivery.sinks import build_notifier
from streams.runtime.delivery.stages import DeliveryJob, backoff_seconds, cooldown_decision, cooldown_key, delivered_key
from streams.runtime.pipeline import DeadLetter
from streams.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AlertInFlight:
    alert: Alert
    receivers: list[str] = field(default_factory=list)


AlertStage = Callable[[AlertInFlight], Awaitable[bool]]
JobStage = Callable[[DeliveryJob], Awaitable[bool]]


def read_alert(raw: bytes) -> Alert:
    return Alert.model_validate_json(raw)


def read_job(raw: bytes) -> DeliveryJob:
    return DeliveryJob.from_dict(json.loads(raw))


def unreadable_detail(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(value)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)[:5]
        )
    return f"{type(exc).__name__}: {exc}"[:500]


def register_delivery(app: faust.App, settings: Settings, config: DeliveryConfig, alerts: faust.TopicT) -> None:
    secrets = config.secrets()
    # With a console, every receiver links to the alert's page there.
    link = (
        f"{settings.console_url.rstrip('/')}/alerts/{{alert_id}}" if settings.console_url else config.conversation_url
    )
    notifiers = {r.name: build_notifier(r, secrets.get(r.name), link) for r in config.receivers}
    redactor = Redactor(config.redact, config.excerpt_chars)
    retries = app.topic(
        settings.delivery_retry_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions
    )
    dead_letters = app.topic(
        settings.delivery_dlq_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions
    )
    delivered = app.Table("delivered", default=None, partitions=settings.partitions)
    cooldowns = app.Table("cooldowns", default=None, partitions=settings.partitions)
    http: dict[str, aiohttp.ClientSession] = {}

    def session() -> aiohttp.ClientSession:
        if "session" not in http:
            http["session"] = aiohttp.ClientSession()
        return http["session"]

    # Alert stages.
    async def redact(item: AlertInFlight) -> bool:
        item.alert = redactor.alert(item.alert)
        return True

    async def route(item: AlertInFlight) -> bool:
        item.receivers = config.route(item.alert.detector, item.alert.rule, item.alert.severity)
        return bool(item.receivers)

    async def cooldown(item: AlertInFlight) -> bool:
        key = cooldown_key(item.alert)
        go, entry = cooldown_decision(
            cooldowns.get(key), item.alert.alert_id, item.alert.severity, time.time(), config.cooldown_seconds
        )
        if not go:
            for name in item.receivers:
                metrics.DELIVERIES.labels(notifiers[name].kind, "suppressed").inc()
            return False
        cooldowns[key] = entry
        return True

    # Job stages.
    async def receiver_configured(job: DeliveryJob) -> bool:
        if job.receiver in notifiers:
            return True
        await dead_letter_job(job, "receiver_removed", f"receiver {job.receiver!r} is no longer configured")
        return False

    async def not_yet_delivered(job: DeliveryJob) -> bool:
        if delivered.get(delivered_key(job.alert, job.receiver)):
            metrics.DELIVERIES.labels(notifiers[job.receiver].kind, "duplicate").inc()
            return False
        return True

    async def notify(job: DeliveryJob) -> bool:
        notifier = notifiers[job.receiver]
        started = time.perf_counter()
        outcome = await notifier.notify(session(), job.alert)
        metrics.DELIVERY_SECONDS.labels(notifier.kind).observe(time.perf_counter() - started)
        if outcome.delivered:
            delivered[delivered_key(job.alert, job.receiver)] = time.time()
            # Durable before the next alert is read: a crash re-sends at most the delivery in flight
            # (receivers dedup on the Idempotency-Key header), not every one since the last commit.
            await app.producer.flush()
            metrics.DELIVERIES.labels(notifier.kind, "delivered").inc()
            log.info(
                "alert delivered",
                extra={"alert_id": job.alert.alert_id, "receiver": job.receiver, "attempt": job.attempt},
            )
        elif outcome.retry and job.attempt < config.max_attempts:
            delay = backoff_seconds(job.attempt, config.backoff_initial_seconds, config.backoff_max_seconds)
            retry = DeliveryJob(job.alert, job.receiver, job.attempt + 1, time.time() + delay, outcome.detail)
            await retries.send(key=job.alert.conversation_id.encode(), value=json.dumps(retry.to_dict()).encode())
            metrics.DELIVERIES.labels(notifier.kind, "retried").inc()
            log.warning(
                "delivery failed, will retry",
                extra={
                    "alert_id": job.alert.alert_id,
                    "receiver": job.receiver,
                    "attempt": job.attempt,
                    "detail": outcome.detail,
                },
            )
        else:
            metrics.DELIVERIES.labels(notifier.kind, "failed").inc()
            reason = "retries_exhausted" if outcome.retry else "not_retryable"
            await dead_letter_job(job, reason, f"after {job.attempt} attempt(s): {outcome.detail}")
        return True

    # The order of the path, once.
    alert_stages: tuple[AlertStage, ...] = (redact, route, cooldown)
    job_stages: tuple[JobStage, ...] = (receiver_configured, not_yet_delivered, notify)

    async def run_job(job: DeliveryJob) -> None:
        """A sink bug must not lose the alert: the job goes to the delivery DLQ with the error."""
        try:
            for stage in job_stages:
                if not await stage(job):
                    return
        except Exception as exc:
            log.exception("delivery attempt raised")
            kind = notifiers[job.receiver].kind if job.receiver in notifiers else "unknown"
            metrics.DELIVERIES.labels(kind, "failed").inc()
            await dead_letter_job(job, "internal_error", type(exc).__name__)

    async def run_alert(item: AlertInFlight) -> None:
        for stage in alert_stages:
            if not await stage(item):
                return
        for name in item.receivers:
            await run_job(DeliveryJob(item.alert, name))

    async def dead_letter_job(job: DeliveryJob, reason: str, detail: str) -> None:
        record = {"reason": reason, "detail": detail, "job": job.to_dict()}
        await dead_letters.send(key=job.alert.conversation_id.encode(), value=json.dumps(record).encode())
        metrics.DELIVERY_DEAD_LETTERS.labels(reason).inc()
        log.error(
            "delivery dead-lettered", extra={"alert_id": job.alert.alert_id, "receiver": job.receiver, "reason": reason}
        )

    async def dead_letter_unreadable(stream: faust.StreamT, raw: bytes, reason: str, exc: Exception) -> None:
        event = stream.current_event
        source = (
            {"topic": event.message.topic, "partition": event.message.partition, "offset": event.message.offset}
            if event is not None
            else {}
        )
        record = DeadLetter(reason, unreadable_detail(exc), raw).to_record(**source)
        key = event.message.key if event is not None and event.message.key else b""
        await dead_letters.send(key=key, value=json.dumps(record).encode())
        metrics.DELIVERY_DEAD_LETTERS.labels(reason).inc()
        log.error("delivery dead-lettered", extra={"reason": reason, **source})

    def still_owned(stream: faust.StreamT) -> bool:
        """False when the event's partition has moved to another worker during a rebalance: the
        new owner resumes from the last commit and delivers it; delivering here too would send
        the same alert twice."""
        event = stream.current_event
        return event is None or app.consumer is None or event.message.tp in app.consumer.assignment()

    @app.agent(alerts, name="deliver")
    async def deliver(stream: faust.StreamT) -> None:
        async for raw in stream:
            if not still_owned(stream):
                continue
            try:
                item = AlertInFlight(read_alert(raw))
            except ValueError as exc:  # ValidationError included: wrong shape or not JSON
                await dead_letter_unreadable(stream, raw, "unreadable_alert", exc)
                continue
            try:
                await run_alert(item)
            except Exception as exc:  # a bug in a stage must not stop the alerts behind this one
                log.exception("an alert stage raised")
                await dead_letter_unreadable(stream, raw, "internal_error", exc)

    @app.agent(retries, name="redeliver")
    async def redeliver(stream: faust.StreamT) -> None:
        async for raw in stream:
            try:
                job = read_job(raw)
            except (ValueError, KeyError, TypeError) as exc:
                await dead_letter_unreadable(stream, raw, "unreadable_job", exc)
                continue
            wait = job.not_before - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if still_owned(stream):
                await run_job(job)

    @app.task
    async def _close_http_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if "session" in http:
                await http["session"].close()
