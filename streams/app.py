"""The Faust app, wired: settings into the app, its topics and table, then the agents.

Read top to bottom: app, topics, table, monitor agent, delivery agents, HTTP views. What each
does lives in ``streams.runtime``.
"""

from __future__ import annotations

import faust

from streams.runtime.build import build_pipeline
from streams.runtime.faust_tuning import resume_streams_after_seek, set_consumer_fetch_max_wait, stop_on_offset_jumps
from streams.runtime.kafka_security import faust_credentials
from streams.runtime.monitor import register_monitor
from streams.runtime.pipeline import Pipeline
from streams.runtime.state_table import ConversationTable
from streams.runtime.web import register_views
from streams.settings import Settings


def create_app(settings: Settings, pipeline: Pipeline | None = None) -> faust.App:
    pipeline = pipeline or build_pipeline(settings)
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
    app.turnwatch_settings = settings  # type: ignore[attr-defined]

    turns = app.topic(
        settings.turns_topic,
        key_type=bytes,
        value_type=bytes,
        value_serializer="raw",
        key_serializer="raw",
        partitions=settings.partitions,
    )
    alerts = app.topic(
        settings.alerts_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions
    )
    dead_letters = app.topic(
        settings.dlq_topic, key_serializer="raw", value_serializer="raw", partitions=settings.partitions
    )
    app.turnwatch_turns_topic = turns  # type: ignore[attr-defined]

    conversations = app.tables.add(
        ConversationTable(
            app, name="conversations", default=None, beacon=app.tables.beacon, partitions=settings.partitions
        )
    )

    register_monitor(app, settings, pipeline, turns, alerts, dead_letters, conversations)

    if settings.delivery_config is not None:
        from streams.runtime.delivery.agent import register_delivery
        from streams.runtime.delivery.config import load_delivery_config, registry_rules

        register_delivery(app, settings, load_delivery_config(settings.delivery_config, registry_rules()), alerts)

    register_views(app, settings, turns)
    return app
