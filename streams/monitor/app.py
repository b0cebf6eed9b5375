"""The Faust app, wired: settings into the app, its topics and table, then the agents.

Read top to bottom: app, topics, table, monitor agent, delivery agents, HTTP views. What each
does lives beside it in ``streams.monitor``, ``streams.ingest`` and ``streams.delivery``; every
topic and table is declared in ``streams.topology``.
"""

from __future__ import annotations

import time

import faust

from streams.ingest.http import register_views
from streams.kafka.faust_tuning import resume_streams_after_seek, set_consumer_fetch_max_wait, stop_on_offset_jumps
from streams.kafka.security import faust_credentials
from streams.monitor.agent import register_monitor
from streams.monitor.build import build_pipeline
from streams.monitor.pipeline import Pipeline
from streams.monitor.startup import record_phase, watch_startup
from streams.monitor.state_table import ConversationTable, TurnTable
from streams.settings import Settings
from streams.topology import declare_topic


def create_app(settings: Settings, pipeline: Pipeline | None = None) -> faust.App:
    if pipeline is None:
        started = time.monotonic()
        pipeline = build_pipeline(settings)
        record_phase("models", time.monotonic() - started)
    created = time.monotonic()
    set_consumer_fetch_max_wait(settings.consumer_fetch_max_wait_ms)
    # Topics turnwatch consumes whose offsets are contiguous (never compacted, no transactions).
    consumed = {settings.turns_topic, settings.alerts_topic, settings.delivery_retry_topic}
    resume_streams_after_seek(consumed)
    stop_on_offset_jumps(consumed)
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker_url,
        broker_credentials=faust_credentials(settings),
        store=f"{settings.table_store}://",
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
    turns = declare_topic(app, "turns", settings, key_type=bytes, value_type=bytes)
    alerts = declare_topic(app, "alerts", settings)
    dead_letters = declare_topic(app, "dlq", settings)

    conversations, turn_records = (
        app.tables.add(kind(app, name=name, default=None, beacon=app.tables.beacon, partitions=settings.partitions))
        for kind, name in ((ConversationTable, "conversations"), (TurnTable, "turns"))
    )

    register_monitor(app, settings, pipeline, turns, alerts, dead_letters, conversations, turn_records)
    watch_startup(app, conversations, since=created)

    if settings.delivery_config is not None:
        from streams.delivery.agent import register_delivery
        from streams.delivery.config import load_delivery_config, registry_rules

        register_delivery(app, settings, load_delivery_config(settings.delivery_config, registry_rules()), alerts)

    register_views(app, settings, turns)
    return app
