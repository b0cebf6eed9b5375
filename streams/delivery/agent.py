"""The delivery agents: ``deliver`` reads alerts, ``redeliver`` reads the retry topic.

The path is two chains of stages, as in Alertmanager's notify pipeline; each stage returns
False to stop the alert (or the job) there:

    alert:    read ─> redact ─> route ─> silence ─> inhibit ─> cooldown ─> track ─> mark source ─> start escalation
              ─> one job per receiver
    job:      receiver configured ─> not yet delivered ─> still current ─> notify ─> delivered | retry later | dead letter

Each decision is a small function of its own module: silences (``silences.py``), inhibition
(``inhibit.py``), cooldown (``stages.py``), the alert's on-call record (``lifecycle.py``) and
its escalation clock (``escalation.py``). What happens after the page, reviewer acknowledgements
and resolutions sent on to the paging receivers and escalation steps, is in ``oncall.py``; its
jobs run through the same job chain, so they are retried, dead-lettered and deduplicated like
pages.

Pending retries live in the retry topic (not in memory), so they survive restarts; the
delivered set, the cooldown, the lifecycle and escalation records, inhibition sources and Slack
message refs live in Faust tables (changelogged). An alert or job that cannot be read, a sink
that raises, and the last failed attempt all go to the delivery dead-letter topic with the
reason, counted in ``turnwatch_delivery_dead_letters_total``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import faust
from pydantic import ValidationError

from streams import metrics
from streams.contracts import Alert, DeadLetter
from streams.delivery.config import DeliveryConfig
from streams.delivery.escalation import policy_for, start_clock
from streams.delivery.inhibit import inhibiting_rule, source_keys, source_record
from streams.delivery.lifecycle import add_receiver, pending_update, superseded, track
from streams.delivery.oncall import DeliveryPath, register_oncall
from streams.delivery.redact import Redactor
from streams.delivery.silences import SilenceBook, SilenceReader
from streams.delivery.sinks import Notice, build_notifier
from streams.delivery.stages import DeliveryJob, backoff_seconds, cooldown_decision, cooldown_key, message_key
from streams.kafka.faust_tuning import resume_streams_after_seek, stop_on_offset_jumps
from streams.kafka.security import kafka_python_options
from streams.settings import Settings
from streams.topology import declare_table, declare_topic

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
    retries = declare_topic(app, "delivery_retry", settings)
    dead_letters = declare_topic(app, "delivery_dlq", settings)
    updates = declare_topic(app, "delivery_updates", settings)  # re-keyed by conversation (oncall.py)
    # Contiguous like the alerts and retry topics (never compacted, no transactions): the same
    # guards against skipped offsets after a rebalance (streams/kafka/faust_tuning.py).
    resume_streams_after_seek({settings.verdicts_topic, updates.get_topic_name()})
    stop_on_offset_jumps({settings.verdicts_topic, updates.get_topic_name()})
    # All in the partition of the alert's conversation, like the alerts and retry topics.
    delivered, cooldowns, lifecycle, escalations, inhibitions, message_refs = (
        declare_table(app, name, settings)
        for name in ("delivered", "cooldowns", "lifecycle", "escalations", "inhibitions", "message_refs")
    )
    silences = SilenceBook()
    silence_reader = SilenceReader(
        silences,
        settings.silences_topic,
        {
            "bootstrap_servers": settings.broker.split(","),
            "client_id": f"{settings.app_id}-silences",
            **kafka_python_options(settings),
        },
    )
    silence_topic = declare_topic(app, "silences", settings)
    http: dict[str, aiohttp.ClientSession] = {}
    warned: set[str] = set()

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

    def held_back(item: AlertInFlight, outcome: str) -> bool:
        for name in item.receivers:
            metrics.DELIVERIES.labels(notifiers[name].kind, outcome).inc()
        return False

    async def silence(item: AlertInFlight) -> bool:
        if not await silence_reader.wait_ready() and "silences" not in warned:
            warned.add("silences")
            log.warning("silences not read yet; notifying without them", extra={"topic": settings.silences_topic})
        found = silences.silencing(item.alert, datetime.now(UTC))
        if found is None:
            return True
        log.info("alert silenced", extra={"alert_id": item.alert.alert_id, "silence_id": found.silence_id})
        return held_back(item, "silenced")

    async def inhibit(item: AlertInFlight) -> bool:
        rule = inhibiting_rule(config.inhibit_rules, inhibitions.get, item.alert, time.time())
        if rule is None:
            return True
        log.info("alert inhibited", extra={"alert_id": item.alert.alert_id, "inhibit_rule": rule})
        return held_back(item, "inhibited")

    async def cooldown(item: AlertInFlight) -> bool:
        key = cooldown_key(item.alert)
        go, entry = cooldown_decision(
            cooldowns.get(key), item.alert.alert_id, item.alert.severity, time.time(), config.cooldown_seconds
        )
        if not go:
            return held_back(item, "suppressed")
        cooldowns[key] = entry
        return True

    async def track_lifecycle(item: AlertInFlight) -> bool:
        """An alert a reviewer's action must reach (a receiver takes updates) or that may escalate
        gets its on-call record, holding the newest copy sent."""
        alert = item.alert
        if any(notifiers[n].takes_updates for n in item.receivers) or policy_for(config.escalations, alert) is not None:
            lifecycle[alert.alert_id] = track(lifecycle.get(alert.alert_id), alert)
        return True

    async def mark_source(item: AlertInFlight) -> bool:
        now = time.time()
        for key in source_keys(config.inhibit_rules, item.alert):
            inhibitions[key] = source_record(inhibitions.get(key), item.alert, now)
        return True

    async def start_escalation(item: AlertInFlight) -> bool:
        alert = item.alert
        policy = policy_for(config.escalations, alert)
        entry = lifecycle.get(alert.alert_id)
        if policy is None or (entry is not None and entry["status"] != "open"):
            return True  # no policy, or a reviewer already has it
        partition = faust.current_event().message.partition
        escalations[alert.alert_id] = start_clock(
            escalations.get(alert.alert_id), alert, policy, time.time(), partition
        )
        return True

    # Job stages.
    async def receiver_configured(job: DeliveryJob) -> bool:
        if job.receiver in notifiers:
            return True
        await dead_letter_job(job, "receiver_removed", f"receiver {job.receiver!r} is no longer configured")
        return False

    async def not_yet_delivered(job: DeliveryJob) -> bool:
        if delivered.get(job.key):
            metrics.DELIVERIES.labels(notifiers[job.receiver].kind, "duplicate").inc()
            return False
        return True

    async def still_current(job: DeliveryJob) -> bool:
        """A receiver that shows the alert's state must not be turned back by a notice that waited
        in the retry topic while the alert moved on (see ``lifecycle.superseded``)."""
        notifier = notifiers[job.receiver]
        if not notifier.takes_updates or not superseded(
            lifecycle.get(job.alert.alert_id), job.action, job.alert.severity
        ):
            return True
        metrics.DELIVERIES.labels(notifier.kind, "superseded").inc()
        log.info("delivery superseded", extra={"alert_id": job.alert.alert_id, "receiver": job.receiver})
        return False

    def paged(job: DeliveryJob) -> DeliveryJob | None:
        """After a page to a receiver that takes updates: remember it was paged, and return the
        update it still needs when a reviewer acted before this page got through."""
        if job.action != "trigger" or not notifiers[job.receiver].takes_updates:
            return None
        entry = add_receiver(lifecycle.get(job.alert.alert_id) or track(None, job.alert), job.receiver)
        lifecycle[job.alert.alert_id] = entry
        action = pending_update(entry)
        if action is None:
            return None
        return DeliveryJob(job.alert, job.receiver, action=action, actor=entry["by"], action_id=entry["action_id"])

    async def notify(job: DeliveryJob) -> bool:
        notifier = notifiers[job.receiver]
        ref_key = message_key(job.alert.alert_id, job.receiver)
        ref = message_refs.get(ref_key) if notifier.takes_updates else None
        started = time.perf_counter()
        outcome = await notifier.send(session(), Notice(job.alert, job.action, job.actor, job.note, ref))
        metrics.DELIVERY_SECONDS.labels(notifier.kind).observe(time.perf_counter() - started)
        if outcome.delivered:
            delivered[job.key] = time.time()
            if outcome.ref is not None:
                message_refs[ref_key] = outcome.ref
            follow_up = paged(job)
            # Durable before the next alert is read: a crash re-sends at most the delivery in flight
            # (receivers dedup on the Idempotency-Key header), not every one since the last commit.
            await app.producer.flush()
            if job.action == "trigger":
                metrics.DELIVERIES.labels(notifier.kind, "delivered").inc()
            else:
                metrics.PAGING_UPDATES.labels(notifier.kind, job.action).inc()
            log.info(
                "alert delivered" if job.action == "trigger" else f"alert {job.action} delivered",
                extra={"alert_id": job.alert.alert_id, "receiver": job.receiver, "attempt": job.attempt},
            )
            if follow_up is not None:
                await run_job(follow_up)
        elif outcome.retry and job.attempt < config.max_attempts:
            delay = backoff_seconds(job.attempt, config.backoff_initial_seconds, config.backoff_max_seconds)
            retry = job.retry(time.time() + delay, outcome.detail)
            await retries.send(key=job.alert.conversation_id.encode(), value=json.dumps(retry.to_dict()).encode())
            metrics.DELIVERIES.labels(notifier.kind, "retried").inc()
            log.warning(
                "delivery failed, will retry",
                extra={
                    "alert_id": job.alert.alert_id,
                    "receiver": job.receiver,
                    "action": job.action,
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
    alert_stages: tuple[AlertStage, ...] = (
        redact,
        route,
        silence,
        inhibit,
        cooldown,
        track_lifecycle,
        mark_source,
        start_escalation,
    )
    job_stages: tuple[JobStage, ...] = (receiver_configured, not_yet_delivered, still_current, notify)

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

    register_oncall(
        app,
        settings,
        config,
        DeliveryPath(
            run_job, still_owned, dead_letter_unreadable, notifiers, silences, lifecycle, escalations, updates
        ),
    )

    @app.task
    async def _read_silences() -> None:
        await silence_topic.maybe_declare()  # compacted, as the console creates it; nothing if it exists
        await silence_reader.run()

    @app.task
    async def _close_http_on_stop() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if "session" in http:
                await http["session"].close()
