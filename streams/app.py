"""The Faust app: topics, the conversation table and the monitor agent.

Read top to bottom: app, topics, table, agent. The agent delegates every decision to
``streams.pipeline`` so ``turnwatch scan`` runs the same code without a broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from contextlib import contextmanager
from typing import Any, Iterator

import faust
from faust import streams as faust_streams

from streams import metrics
from streams.build import build_pipeline
from streams.pipeline import DeadLetter, Pipeline, Prepared, StepResult, record_metrics
from streams.faust_tuning import set_consumer_fetch_max_wait
from streams.held_writes import HeldWrites
from streams.settings import Settings

log = logging.getLogger(__name__)


@contextmanager
def as_current_event(event: faust.EventT) -> Iterator[None]:
    """Make ``event`` Faust's current event while its table writes happen.

    In a ``take_events`` batch Faust's current event is the batch's last one; table writes
    use the current event's partition for the changelog, so each event's writes must run
    with that event current, as they would in one-at-a-time iteration.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def create_app(settings: Settings, pipeline: Pipeline | None = None) -> faust.App:
    pipeline = pipeline or build_pipeline(settings)
    set_consumer_fetch_max_wait(settings.consumer_fetch_max_wait_ms)
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker_url,
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=max(0.1, settings.session_timeout / 5),
        producer_max_batch_size=settings.producer_max_batch_size,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        datadir=str(settings.data_dir / "faust"),
    )
    app.turnwatch_settings = settings  # type: ignore[attr-defined]

    turns = app.topic(settings.turns_topic, key_type=bytes, value_type=bytes, value_serializer="raw",
                      key_serializer="raw", partitions=settings.partitions)
    alerts = app.topic(settings.alerts_topic, key_serializer="raw", value_serializer="raw",
                       partitions=settings.partitions)
    dead_letters = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw",
                             partitions=settings.partitions)
    app.turnwatch_turns_topic = turns  # type: ignore[attr-defined]

    conversations = app.Table("conversations", default=None, partitions=settings.partitions)

    async def publish(event: faust.EventT, result: StepResult) -> None:
        record_metrics(result)
        if result.dead_letter is not None:
            message = event.message
            record = result.dead_letter.to_record(topic=message.topic, partition=message.partition, offset=message.offset)
            await dead_letters.send(key=message.key, value=json.dumps(record).encode())
        for alert in result.alerts:
            await alerts.send(key=alert.conversation_id.encode(), value=alert.to_json())
            if event.message.timestamp:
                metrics.TURN_TO_ALERT_SECONDS.observe(max(0.0, time.time() - event.message.timestamp))

    writes = HeldWrites(conversations, as_current_event)

    def step_safely(event: faust.EventT, item: Prepared) -> StepResult:
        try:
            writes.event = event
            return pipeline.step(writes, item)
        except Exception as exc:  # a detector bug must not stop the stream or lose the turn
            log.exception("processing failed; turn sent to the dead-letter topic")
            return StepResult(event=item.event, dead_letter=DeadLetter("processing_error", type(exc).__name__, event.value))

    async def prepare(events: list[faust.EventT]) -> list[Prepared]:
        raws = [e.value for e in events]
        try:
            # Table reads from the executor thread are plain dict reads; nothing writes meanwhile.
            return await asyncio.get_running_loop().run_in_executor(None, pipeline.prepare, raws, conversations)
        except Exception as exc:
            log.exception("feature extraction failed; batch sent to the dead-letter topic")
            return [Prepared(dead_letter=DeadLetter("processing_error", type(exc).__name__, raw)) for raw in raws]

    next_offsets: dict[Any, int] = {}

    @app.agent(turns, name="monitor")
    async def monitor(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max, within=settings.batch_window):
            metrics.BATCH_SIZE.observe(len(events))
            for event, item in zip(events, await prepare(events)):
                await publish(event, step_safely(event, item))
                next_offsets[event.message.tp] = event.message.offset + 1
            metrics.STATE_WRITES.inc(writes.flush())
            metrics.LAST_TURN_PROCESSED.set_to_current_time()

    @app.timer(interval=2.0)
    async def gauges() -> None:
        metrics.ACTIVE_CONVERSATIONS.set(len(conversations.data))
        lag = 0
        for tp in app.consumer.assignment() if app.consumer else ():
            # Partitions this process has not consumed from yet are not counted (lag is a lower bound).
            if tp.topic == settings.turns_topic and tp in next_offsets:
                highwater = app.consumer.highwater(tp)
                if highwater is not None and highwater >= 0:
                    lag += max(0, highwater - next_offsets[tp])
        metrics.CONSUMER_LAG.set(lag)

    if settings.delivery_config is not None:
        from streams.delivery.agent import register_delivery
        from streams.delivery.config import load_delivery_config

        register_delivery(app, settings, load_delivery_config(settings.delivery_config), alerts)

    from streams.web import register_views

    register_views(app, settings, turns)
    return app
