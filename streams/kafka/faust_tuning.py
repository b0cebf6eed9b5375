"""Faust settings that faust-streaming does not expose."""

from __future__ import annotations

import types
from typing import Any


def set_consumer_fetch_max_wait(milliseconds: int) -> None:
    """Bound how long a fetch may wait for data.

    faust-streaming 0.15 hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer. Apache
    Kafka answers a fetch as soon as one byte is there, but brokers that wait the whole
    interval (tansu, the embedded default) add up to 1.5 s to every quiet turn. This swaps the
    consumer class the aiokafka driver instantiates for one with a shorter wait.
    """
    import aiokafka
    import faust.transport.drivers.aiokafka as driver

    class BoundedWaitConsumer(aiokafka.AIOKafkaConsumer):
        def __init__(self, *args, **kwargs):
            kwargs["fetch_max_wait_ms"] = milliseconds
            super().__init__(*args, **kwargs)

    real = aiokafka if isinstance(driver.aiokafka, types.ModuleType) else driver.aiokafka.__wrapped__
    proxy = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    proxy.AIOKafkaConsumer = BoundedWaitConsumer
    proxy.__wrapped__ = real
    driver.aiokafka = proxy


OFFSET_JUMP_EXIT_CODE = 3


def stop_on_offset_jumps(topics: set[str]) -> None:
    """Exit the worker, before it processes anything, when the fetched offsets of one of
    ``topics`` jump ahead of where consumption resumed.

    Faust takes a jump between two fetched offsets for offsets that do not exist (compacted,
    or transaction markers) and marks the range acknowledged, so commits pass over it. The
    turns topic is never compacted and has no transaction markers, so a jump there means the
    consumer is about to skip turns. Seen on tansu at start-up, under load: a fetch issued
    before Faust's seek to the committed offset delivered offsets 61 ahead, and those turns
    were never processed (state gaps, missing alerts, or a commit stuck behind the hole).
    Nothing past the hole has been processed or committed when this runs, so exiting is
    safe: the supervisor restarts the worker and it resumes from the committed offset.
    Other topics (the changelogs, which are compacted) keep Faust's behaviour.
    """
    import logging
    import os

    from faust.transport.consumer import Consumer

    _GUARDED.update(topics)
    if getattr(Consumer._add_gap, "turnwatch_guarded", False):
        return
    original = Consumer._add_gap
    log = logging.getLogger("streams.offsets")

    async def _add_gap(self, tp, offset_from: int, offset_to: int) -> None:
        if tp.topic in _GUARDED:
            log.error(
                "offsets of %s jumped from %d to %d: %d messages would be skipped; exiting with code %d to "
                "resume from the committed offset",
                tp,
                offset_from - 1,
                offset_to,
                offset_to - offset_from,
                OFFSET_JUMP_EXIT_CODE,
            )
            logging.shutdown()
            os._exit(OFFSET_JUMP_EXIT_CODE)
        await original(self, tp, offset_from, offset_to)

    _add_gap.turnwatch_guarded = True
    Consumer._add_gap = _add_gap


_GUARDED: set[str] = set()


def resume_streams_after_seek(topics: set[str]) -> None:
    """Resume fetching ``topics`` only after Faust's seek to the committed offsets is done.

    After a rebalance Faust resumes the stream partitions, then seeks them to the committed
    offsets (faust/tables/recovery.py, the only two places that resume stream partitions).
    Records fetched in between reached the fetch loop before the seek: the read position moved
    past them while the seek reset Faust's own read offset, so the next record looked like a
    jump of 3 to 61 offsets (at every restart with the RocksDB store, whose recovery is quick).
    Here the resume of these partitions is held back and done when the seek has finished.
    """
    from faust.transport.consumer import Consumer

    _RESUME_AFTER_SEEK.update(topics)
    if getattr(Consumer.resume_partitions, "turnwatch_deferred", False):
        return
    original_resume_partitions = Consumer.resume_partitions
    original_perform_seek = Consumer.perform_seek

    def resume_partitions(self, tps) -> None:
        tps = set(tps)
        held = {tp for tp in tps if tp.topic in _RESUME_AFTER_SEEK}
        self.__dict__.setdefault("_turnwatch_held", set()).update(held)
        original_resume_partitions(self, tps - held)

    async def perform_seek(self) -> None:
        try:
            await original_perform_seek(self)
        finally:
            held = self.__dict__.pop("_turnwatch_held", set())
            original_resume_partitions(self, {tp for tp in held if tp in self.assignment()})

    resume_partitions.turnwatch_deferred = True
    Consumer.resume_partitions = resume_partitions
    Consumer.perform_seek = perform_seek


_RESUME_AFTER_SEEK: set[str] = set()


def worker_ready(app: Any) -> bool:
    """Partitions assigned, no rebalance under way, tables recovered: the worker is processing."""
    assigned = app.consumer.assignment() if app.consumer else set()
    return bool(assigned) and not app.rebalancing and not getattr(app, "in_recovery", False)
