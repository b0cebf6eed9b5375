"""Publishing transcripts to ``turnwatch.turns`` with kafka-python."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from streams.ingest.files import Record


@dataclass
class ReplaySummary:
    sent: int = 0
    failed: int = 0
    conversations: set[str] = field(default_factory=set)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    end_offsets: dict[int, int] = field(default_factory=dict)  # partition -> last acked offset + 1

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def paced(
    records: Sequence[Record], speed: float | None, sleep: Callable[[float], None] = time.sleep
) -> Iterable[Record]:
    """Records ``speed`` times faster than real time; None = as fast as possible.

    Every conversation starts at once and keeps its own rhythm: a turn is due at its
    offset from the first turn of its conversation, so conversations interleave.
    """
    if not speed:
        yield from records
        return
    first: dict[str | None, datetime] = {}
    for record in records:
        if record.ts is not None:
            first.setdefault(record.key, record.ts)

    def due(record: Record) -> float:
        start = first.get(record.key)
        return (record.ts - start).total_seconds() if record.ts is not None and start is not None else 0.0

    elapsed = 0.0
    for offset, _, record in sorted((due(r), n, r) for n, r in enumerate(records)):
        if offset > elapsed:
            sleep((offset - elapsed) / speed)
            elapsed = offset
        yield record


def replay(
    records: Sequence[Record],
    bootstrap: str,
    topic: str,
    *,
    speed: float | None = None,
    on_sent: Callable[[Record], None] = lambda r: None,
    security: Mapping[str, Any] | None = None,
) -> ReplaySummary:
    summary = ReplaySummary()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        retries=5,
        max_in_flight_requests_per_connection=1,  # keeps a conversation's turns in order across retries
        client_id="turnwatch-replay",
        **(security or {}),
    )
    started = time.perf_counter()
    try:
        futures = []
        for record in paced(records, speed):
            key = record.key.encode() if record.key else None
            futures.append((record, producer.send(topic, key=key, value=record.value)))
            if record.key:
                summary.conversations.add(record.key)
            if speed or len(futures) >= 500:
                _settle(futures, summary, on_sent)
        _settle(futures, summary, on_sent)
        producer.flush()
    finally:
        producer.close()
        summary.seconds = time.perf_counter() - started
    return summary


def _settle(futures: list, summary: ReplaySummary, on_sent: Callable[[Record], None]) -> None:
    for record, future in futures:
        try:
            metadata = future.get(timeout=30)
            summary.sent += 1
            summary.end_offsets[metadata.partition] = max(
                summary.end_offsets.get(metadata.partition, 0), metadata.offset + 1
            )
        except KafkaError as exc:
            summary.failed += 1
            if len(summary.errors) < 10:
                summary.errors.append(f"{type(exc).__name__}: {exc}")
        on_sent(record)
    futures.clear()
