"""Silences honoured by delivery: an alert matching an active silence is not notified.

The console publishes silences on ``turnwatch.silences`` (key = silence_id; a newer version, e.g.
one expired early, replaces the older). Every delivery worker needs every silence, whatever
partitions it owns, so each worker reads the whole topic with a consumer of its own: no consumer
group, every partition assigned, from the beginning, for as long as the worker runs.

Why not a Faust table: a table's partitions follow the consumer group, so a worker would only
see the silences whose silence_id hashed to its partitions. A GlobalTable would need an agent
copying the topic into a changelog of its own (a second copy of what is already a compacted,
keyed topic), and global-table recovery is where Faust on tansu is weakest (its ListOffsets
answers from a batch's base offset). Silences are few (hundreds at most) and small, so a dict in
each worker, rebuilt from the topic at start, is the simplest thing that is right everywhere.

Until the reader has caught up with the topic's end at start, the silence stage waits for it (up
to ``READY_TIMEOUT_SECONDS``), so a restarted worker does not page through a silence it has not
read yet; past that it notifies (a missed page is worse than an unwanted one) and logs why. An
alert replayed after a crash is decided again with the silences in force then: one whose silence
has since expired is notified, as Alertmanager notifies alerts still firing when a silence ends.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from pydantic import ValidationError

from streams import metrics
from streams.contracts import Alert, SilenceEvent

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 30.0
RECONNECT_SECONDS = 5.0


class SilenceBook:
    """Every silence read so far, the newest version of each (by ``updated_at``, so a replayed
    older version changes nothing); expired ones are kept, as in Alertmanager, but never match."""

    def __init__(self) -> None:
        self._silences: dict[str, SilenceEvent] = {}

    def add(self, silence: SilenceEvent) -> bool:
        """Keep ``silence`` unless a newer version of it is already here; True when kept."""
        known = self._silences.get(silence.silence_id)
        if known is not None and known.updated_at >= silence.updated_at:
            return False
        self._silences[silence.silence_id] = silence
        return True

    def remove(self, silence_id: str) -> None:
        self._silences.pop(silence_id, None)

    def silencing(self, alert: Alert, at: datetime) -> SilenceEvent | None:
        """The first active silence that matches the alert, if any."""
        return next((s for s in self._silences.values() if s.silences(alert, at)), None)

    def all(self) -> dict[str, SilenceEvent]:
        return dict(self._silences)

    def active(self, at: datetime) -> int:
        return sum(1 for s in self._silences.values() if s.active(at))

    def __len__(self) -> int:
        return len(self._silences)


class SilenceReader:
    """Reads the whole silences topic into a ``SilenceBook`` and keeps reading; ``ready`` is set
    once it has caught up with the end the topic had when reading began (or the topic is absent:
    then there is nothing to honour yet, and it keeps looking for the topic)."""

    def __init__(self, book: SilenceBook, topic: str, consumer_options: dict) -> None:
        self.book = book
        self.topic = topic
        self.consumer_options = consumer_options
        self.ready = asyncio.Event()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> bool:
        if self.ready.is_set():
            return True
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def read(self, key: bytes | None, value: bytes | None) -> None:
        """One record of the topic. A record that is not a silence is skipped (logged without its
        content: a comment may hold clinical words)."""
        if value is None:
            if key:
                self.book.remove(key.decode(errors="replace"))
            return
        try:
            silence = SilenceEvent.model_validate_json(value)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable silence skipped", extra={"error": type(exc).__name__})
            return
        if self.book.add(silence):
            log.info(
                "silence read",
                extra={
                    "silence_id": silence.silence_id,
                    "ends_at": silence.ends_at.isoformat(),
                    "created_by": silence.created_by,
                },
            )

    async def run(self) -> None:
        """Read for as long as the worker runs; a lost connection starts over from the beginning
        (harmless: the book keeps the newest version of each silence)."""
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading the silences topic failed; starting over")
                await asyncio.sleep(RECONNECT_SECONDS)

    async def _read(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, auto_offset_reset="earliest", **self.consumer_options
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    for record in records:
                        self.read(record.key, record.value)
                if not self.ready.is_set() and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                    log.info("silences read", extra={"silences": len(self.book)})
                    self.ready.set()
                metrics.ACTIVE_SILENCES.set(self.book.active(datetime.now().astimezone()))
        finally:
            await consumer.stop()

    async def _partitions(self, consumer) -> set[int]:
        """The topic's partitions, waiting for it to exist (ready meanwhile: no silence exists)."""
        while True:
            await consumer.topics()  # refreshes the cluster metadata
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                return partitions
            if not self.ready.is_set():
                log.info("no silences topic yet; no silence to honour", extra={"topic": self.topic})
                self.ready.set()
            await asyncio.sleep(RECONNECT_SECONDS)
