"""A worker of its own on a shared broker: a unique app id (consumer group, changelogs) and
every named topic renamed, as the TURNWATCH_* settings a worker, console or crash test reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from streams.topology import TOPICS


@dataclass(frozen=True)
class Isolation:
    app_id: str
    topics: dict[str, str]  # role (streams.topology) -> topic name

    @property
    def env(self) -> dict[str, str]:
        named = {f"TURNWATCH_{spec.setting.upper()}": self.topics[spec.role] for spec in TOPICS if spec.setting}
        return {"TURNWATCH_APP_ID": self.app_id, **named}


def isolated(label: str) -> Isolation:
    """Names no other test or run uses: ``tw-<label>-<random>`` and ``<role>-<random>``."""
    suffix = uuid.uuid4().hex[:8]
    return Isolation(f"tw-{label}-{suffix}", {spec.role: f"{spec.role}-{suffix}" for spec in TOPICS if spec.setting})
