"""The delivery agents: ``deliver`` reads alerts, ``redeliver`` reads the retry topic.

The path is two chains of stages, as in Alertmanager's notify pipeline; each stage returns
False to stop the alert (or the job) there:

    alert:    read ─> redact ─> route ─> silence ─> inhibit ─> cooldown ─> track ─> mark source ─> start escalation
              ─> one job per receiver
    job:      receiver configured ─> not yet delivered ─> still current ─> notify ─> delivered | retry later | dead letter

Each stage is an object that owns its decision, its state and its metrics: the alert chain in
``alert_stages.py``, the job chain in ``job_stages.py``; this module only builds and wires them.
What happens after the page, reviewer acknowledgements and resolutions sent on to the paging
receivers and escalation steps, is in ``oncall.py``; its
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

import aiohttp
import faust
from pydantic import ValidationError

from streams import metrics
from streams.contracts import Alert, DeadLetter
from streams.delivery.alert_stages import (
    AlertInFlight,
    AlertStage,
    Cooldown,
    Inhibit,
    MarkSource,
    Redact,
    Route,
    Silence,
    StartEscalation,
    TrackLifecycle,
)
from streams.delivery.config import DeliveryConfig
from streams.delivery.job_stages import JobChain, Notify, NotYetDelivered, ReceiverConfigured, Retry, StillCurrent
from streams.delivery.oncall import DeliveryPath, register_oncall
from streams.delivery.redact import Redactor
from streams.delivery.silences import SilenceBook, SilenceReader
from streams.delivery.sinks import build_notifier
from streams.delivery.stages import DeliveryJob
from streams.kafka.faust_tuning import resume_streams_after_seek, stop_on_offset_jumps
from streams.kafka.security import kafka_python_options
from streams.settings import Settings
from streams.topology import declare_table, declare_topic

log = logging.getLogger(__name__)


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

    def session() -> aiohttp.ClientSession:
        if "session" not in http:
            http["session"] = aiohttp.ClientSession()
        return http["session"]

    async def dead_letter_job(job: DeliveryJob, reason: str, detail: str) -> None:
        record = {"reason": reason, "detail": detail, "job": job.to_dict()}
        await dead_letters.send(key=job.alert.conversation_id.encode(), value=json.dumps(record).encode())
        metrics.DELIVERY_DEAD_LETTERS.labels(reason).inc()
        log.error(
            "delivery dead-lettered", extra={"alert_id": job.alert.alert_id, "receiver": job.receiver, "reason": reason}
        )

    kinds = {name: notifier.kind for name, notifier in notifiers.items()}
    alert_stages: tuple[AlertStage, ...] = (
        Redact(redactor),
        Route(config),
        Silence(silences, silence_reader, kinds, settings.silences_topic),
        Inhibit(config.inhibit_rules, inhibitions, kinds),
        Cooldown(cooldowns, config.cooldown_seconds, kinds),
        TrackLifecycle(lifecycle, {n: notifier.takes_updates for n, notifier in notifiers.items()}, config.escalations),
        MarkSource(config.inhibit_rules, inhibitions),
        StartEscalation(config.escalations, lifecycle, escalations),
    )
    notify = Notify(
        notifiers,
        delivered,
        message_refs,
        lifecycle,
        Retry(
            lambda key, value: retries.send(key=key, value=value),  # keyed by conversation, like the alert
            config.max_attempts,
            config.backoff_initial_seconds,
            config.backoff_max_seconds,
        ),
        dead_letter_job,
        session,
        lambda: app.producer.flush(),
        lambda job: jobs.run(job),  # the chain this stage ends
    )
    jobs = JobChain(
        (
            ReceiverConfigured(notifiers, dead_letter_job),
            NotYetDelivered(delivered, notifiers),
            StillCurrent(lifecycle, notifiers),
            notify,
        ),
        notifiers,
        dead_letter_job,
    )
    run_job = jobs.run

    async def run_alert(item: AlertInFlight) -> None:
        for stage in alert_stages:
            if not await stage(item):
                return
        for name in item.receivers:
            await run_job(DeliveryJob(item.alert, name))

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
