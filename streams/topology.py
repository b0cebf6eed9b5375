"""Every topic and table a turnwatch worker uses, declared once.

Workers declare them on their Faust app from here (``declare_topic``), topic creation before a
worker starts reads ``created_before_start``, and the crash test renames the same set
(``topic_settings``). Names come from the settings, so a deployment (or a test) can prefix them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    role: str
    setting: str | None  # the Settings field naming it; None for a topic named after the app id
    purpose: str
    compacted: bool = False
    internal: bool = False  # created by Faust itself (re-keyed or compacted internal topics)


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("turns", "turns_topic", "turn events in, keyed by conversation_id"),
    TopicSpec("alerts", "alerts_topic", "alerts out, keyed by conversation_id"),
    TopicSpec("dlq", "dlq_topic", "turn events the monitor could not take, with the reason"),
    TopicSpec("delivery_retry", "delivery_retry_topic", "delivery jobs waiting for their next attempt"),
    TopicSpec("delivery_dlq", "delivery_dlq_topic", "deliveries that failed for good, with the reason"),
    TopicSpec("verdicts", "verdicts_topic", "reviewers' acknowledge, resolve, assign and verdict events"),
    TopicSpec("silences", "silences_topic", "silences, latest state per id", compacted=True, internal=True),
    TopicSpec("delivery_updates", None, "on-call updates re-keyed by conversation", internal=True),
)

# Faust tables (each backed by a changelog topic ``<app_id>-<name>-changelog``).
TABLES: dict[str, str] = {
    "conversations": "each conversation's head: its window's turn indices, detector memories, episode book",
    "turns": "the record (text, features) of each turn in a conversation's window, keyed conversation#index",
    "delivered": "(alert, severity, receiver) already delivered: no second send",
    "cooldowns": "(conversation, rule) last notified severity and time",
    "lifecycle": "each delivered alert's review state, for paging updates",
    "escalations": "unacknowledged criticals waiting for their next escalation step",
    "inhibitions": "open source alerts that quiet lower alerts of their conversation",
    "message_refs": "Slack channel and ts of each posted alert, for chat.update",
}


def topic_name(spec: TopicSpec, settings: Settings) -> str:
    return getattr(settings, spec.setting) if spec.setting else f"{settings.app_id}-delivery-updates"


def topic(role: str, settings: Settings) -> str:
    return topic_name(next(spec for spec in TOPICS if spec.role == role), settings)


def created_before_start(settings: Settings, *, console: bool = False) -> list[str]:
    """The topics to create (with the configured partitions) before a worker starts; the verdicts
    topic only where a console publishes to it."""
    roles = ["turns", "alerts", "dlq", "delivery_retry", "delivery_dlq"] + (["verdicts"] if console else [])
    return [topic(role, settings) for role in roles]


def topic_settings(prefix: str) -> dict[str, str]:
    """TURNWATCH_* variables renaming every named topic with ``prefix`` (crash test, tests)."""
    return {f"TURNWATCH_{spec.setting.upper()}": f"{prefix}{spec.role}" for spec in TOPICS if spec.setting is not None}


def declare_topic(app: Any, role: str, settings: Settings, **options: Any) -> Any:
    """The topic on a Faust app, raw bytes in and out, with the configured partitions."""
    spec = next(spec for spec in TOPICS if spec.role == role)
    if spec.compacted:
        return app.topic(topic_name(spec, settings), partitions=settings.partitions, internal=True, compacting=True)
    options = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.partitions, **options}
    if spec.internal:
        options["internal"] = True
    return app.topic(topic_name(spec, settings), **options)


def declare_table(app: Any, name: str, settings: Settings) -> Any:
    if name not in TABLES:
        raise KeyError(f"{name} is not a declared table ({', '.join(TABLES)})")
    return app.Table(name, default=None, partitions=settings.partitions)
