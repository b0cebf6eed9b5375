"""Where a worker's start goes: imports, models, and Kafka (join, assignment, table recovery),
logged once ready and exported as ``turnwatch_startup_seconds{phase}``."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import faust

from streams import metrics
from streams.kafka.faust_tuning import worker_ready

log = logging.getLogger(__name__)
READY_POLL_SECONDS = 0.05


def process_age() -> float | None:
    """Seconds since this process started (Linux), else None."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def record_phase(phase: str, seconds: float) -> None:
    metrics.STARTUP_SECONDS.labels(phase).set(round(seconds, 3))


def watch_startup(app: faust.App, conversations: Any, since: float) -> None:
    """Record the ``kafka`` phase (``since`` → ready) and the conversations recovered, at once
    rather than at the next gauge tick."""

    @app.task
    async def startup_probe() -> None:
        while not worker_ready(app):
            await asyncio.sleep(READY_POLL_SECONDS)
        record_phase("kafka", time.monotonic() - since)
        metrics.ACTIVE_CONVERSATIONS.set(len(conversations.data))
        phases = {s.labels["phase"]: s.value for m in metrics.STARTUP_SECONDS.collect() for s in m.samples}
        log.info("worker ready: %s", ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in phases.items()))
