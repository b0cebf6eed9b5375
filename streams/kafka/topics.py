"""Creating topics with the configured partitions before anything produces to them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def ensure_topics(
    bootstrap: str, names: Sequence[str], partitions: int, security: Mapping[str, Any] | None = None
) -> None:
    """Create the topics if missing, so a replay never auto-creates them with one partition.
    ``security``: ``streams.kafka.security.kafka_python_options(settings)``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="turnwatch-replay-admin", **(security or {}))
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
