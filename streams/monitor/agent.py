"""The monitor agent: turns in, the pipeline's step per turn, alerts and dead letters out,
conversation state written once per micro-batch; and the gauges it keeps.

The agent delegates every decision to ``streams.monitor.pipeline``, so ``turnwatch scan``
runs the same code without a broker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

import faust
from faust import streams as faust_streams

from detectors.state import Arrival
from streams import metrics
from streams.contracts import DeadLetter
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.fail_fast import or_end_process
from streams.monitor.held_writes import HeldWrites
from streams.monitor.pipeline import Pipeline, Prepared, StepResult, record_metrics
from streams.monitor.state_table import StateTable
from streams.settings import Settings

log = logging.getLogger(__name__)
# Turns whose features are computed together while the previous slice is stepped: enough texts
# for the encoder's side-by-side calls, few enough that stepping starts soon.
FEATURE_SLICE = 16
# Slices extracted at once: while one slice's texts are encoded the others tokenise or run the heads
# on their vectors, and their texts queue for the encoder's threads behind it; with three, the
# encoder seldom waits (measured side by side on the bench's turns, 3 rounds: 1 → 108, 2 → 114,
# 3 → 117 turns/s).
EXTRACTING_SLICES = 3


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


def consumer_diagnostics(app: faust.App, tp: Any, position: int | None) -> str:
    """What the consumer knows about a partition that stopped moving (for the stall warning)."""
    consumer = app.consumer
    driver = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    paused = driver.paused() if driver is not None else "?"
    acked = sorted(consumer._acked.get(tp, ()))
    return (
        f"processed up to {position}, highwater {consumer.highwater(tp)}, read offset {consumer._read_offset.get(tp)}, "
        f"committed {consumer._committed_offset.get(tp)}, acked not committed {acked[:3]}..{acked[-3:]} "
        f"({len(acked)}), gaps {consumer._gap.get(tp)}, unacked {len(consumer._unacked_messages)}, "
        f"paused {paused}, flow active {consumer.flow_active}"
    )


def register_monitor(
    app: faust.App,
    settings: Settings,
    pipeline: Pipeline,
    turns: faust.TopicT,
    alerts: faust.TopicT,
    dead_letters: faust.TopicT,
    conversations: StateTable,
    turn_records: StateTable,
) -> None:
    async def publish(event: faust.EventT, result: StepResult) -> list[Awaitable[Any]]:
        """Send the step's dead letter and alerts; returns the broker acknowledgements to await."""
        record_metrics(result)
        acks = []
        if result.dead_letter is not None:
            message = event.message
            record = result.dead_letter.to_record(
                topic=message.topic, partition=message.partition, offset=message.offset
            )
            acks.append(await dead_letters.send(key=message.key, value=json.dumps(record).encode()))
        for alert in result.alerts:
            acks.append(await alerts.send(key=alert.conversation_id.encode(), value=alert.to_json()))
            if event.message.timestamp:
                metrics.TURN_TO_ALERT_SECONDS.observe(max(0.0, time.time() - event.message.timestamp))
        return acks

    heads = HeldWrites(conversations, as_current_event)
    turn_writes = HeldWrites(turn_records, as_current_event)
    writes = ConversationStore(heads, turn_writes)
    stored = ConversationStore(conversations, turn_records)  # what the last flushed batch left

    def step_safely(event: faust.EventT, item: Prepared) -> StepResult:
        try:
            heads.event = turn_writes.event = event
            return pipeline.step(writes, item)
        except Exception as exc:  # a detector bug must not stop the stream or lose the turn
            log.exception("processing failed; turn sent to the dead-letter topic")
            return StepResult(
                event=item.event, dead_letter=DeadLetter("processing_error", type(exc).__name__, event.value)
            )

    def prepare_each(raws: list[Any]) -> list[Prepared]:
        """The batch event by event, so whatever broke it costs the breaking event only."""
        prepared = []
        for raw in raws:
            try:
                prepared.extend(pipeline.prepare([raw], stored))
            except Exception as exc:
                log.exception("preparing one event failed; it goes to the dead-letter topic")
                prepared.append(Prepared(dead_letter=DeadLetter("processing_error", type(exc).__name__, raw)))
        return prepared

    extractors = concurrent.futures.ThreadPoolExecutor(EXTRACTING_SLICES, thread_name_prefix="extract")

    def extract_safely(items: list[Prepared]) -> None:
        try:
            pipeline.extract(items)
        except Exception as exc:
            log.exception("feature extraction failed outside the per-event guard; the slice is dead-lettered")
            for item in items:
                if item.wants_features and item.event is not None:
                    item.dead_letter = DeadLetter("processing_error", type(exc).__name__, item.event)
                    item.event = None

    async def prepared_slices(events: list[faust.EventT]) -> AsyncIterator[list[tuple[faust.EventT, Prepared]]]:
        """The batch's events with their features, a slice at a time, while the caller steps the
        slices already done (Python on the event loop); ``EXTRACTING_SLICES`` slices are extracted
        at once so the encoder is kept busy for the whole batch."""
        raws = [e.value for e in events]
        loop = asyncio.get_running_loop()
        try:
            # Table reads from the executor thread are plain dict reads; nothing writes meanwhile.
            admitted = await loop.run_in_executor(None, pipeline.admit, raws, stored)
        except Exception:
            log.exception("preparing a batch of %d failed; retrying event by event", len(raws))
            yield list(zip(events, await loop.run_in_executor(None, prepare_each, raws)))
            return
        starts = range(0, len(events), FEATURE_SLICE)
        extracting = [extractors.submit(extract_safely, admitted[start : start + FEATURE_SLICE]) for start in starts]
        try:
            for start, extracted in zip(starts, extracting):
                await asyncio.wrap_future(extracted)
                yield list(zip(events[start : start + FEATURE_SLICE], admitted[start : start + FEATURE_SLICE]))
        finally:
            for extracted in extracting:
                extracted.cancel()  # slices not started yet are skipped when the caller stops early

    async def write_state() -> None:
        started = time.perf_counter()
        turn_writes.flush()
        await turn_records.acknowledged()  # the turn records the heads will list are on the broker,
        await conversations.acknowledged()  # and so are the last batch's heads, which no longer list the deletes
        turn_writes.flush_deletes()
        metrics.STATE_WRITES.inc(heads.flush())
        metrics.STATE_WRITE_SECONDS.observe(time.perf_counter() - started)

    next_offsets: dict[Any, int] = {}

    async def process(events: list[faust.EventT]) -> None:
        metrics.BATCH_SIZE.observe(len(events))
        acks: list[Awaitable[Any]] = []
        async with contextlib.aclosing(prepared_slices(events)) as slices:
            async for prepared in slices:
                for event, item in prepared:
                    result = step_safely(event, item)
                    if result.arrival is Arrival.GAP:
                        log.warning(
                            "turn gap: conversation %s got turn %d, earlier turns missing (partition %d offset %d)",
                            item.event.conversation_id,
                            item.event.turn_index,
                            event.message.partition,
                            event.message.offset,
                        )
                    acks.extend(await publish(event, result))
                    next_offsets[event.message.tp] = event.message.offset + 1
                # Sent while the next slice is stepped: a turn record means nothing until a head lists it.
                turn_writes.flush()
        await asyncio.gather(*acks)
        await write_state()
        metrics.LAST_TURN_PROCESSED.set_to_current_time()

    @app.agent(turns, name="monitor")
    async def monitor(stream: faust.StreamT) -> None:
        # Crash consistency, by order of durability (tansu has no transactions, so no exactly-once):
        #   1. a batch's alerts and dead letters are acknowledged by the broker,
        #   2. then its state is written (changelog records): the new turn records (sent slice by
        #      slice while the batch is stepped; alone they change nothing a recovery reads), and,
        #      once the broker has acknowledged them, the conversation heads that list them, so a
        #      head on the changelog never lists a turn record that is not; the records a head
        #      stopped listing are deleted one batch later, once that head is acknowledged too,
        #   3. then take_events acks its events, and Faust commits their offsets only after
        #      flushing the producer, i.e. after the changelog records are acknowledged.
        # So a committed offset implies durable state, and durable state (whose episode book
        # suppresses repeats) implies durable alerts. A crash anywhere replays the batch against
        # state from before it: alerts may repeat on the topic (same alert_id; delivery dedups),
        # none is lost, no turn is skipped. Table recovery must read the changelog to its true
        # end (on tansu that needs one record per producer batch, see streams.kafka.broker) and keep
        # the newest state per conversation (a zombie's late write is older: streams.monitor.state_table).
        # A batch that fails outside the per-turn guards ends the process before take_events could
        # ack it (streams.monitor.fail_fast).
        async for events in stream.take_events(settings.batch_max, within=settings.batch_window):
            await or_end_process(process(events))

    progress: dict[Any, tuple[int, float]] = {}

    @app.timer(interval=2.0)
    async def gauges() -> None:
        metrics.ACTIVE_CONVERSATIONS.set(len(conversations.data))
        lag = 0
        now = time.monotonic()
        for tp in app.consumer.assignment() if app.consumer else ():
            if tp.topic != settings.turns_topic:
                continue
            highwater = app.consumer.highwater(tp)
            position = next_offsets.get(tp)
            if highwater is None or highwater < 0:
                continue
            # Partitions this process has not consumed from yet are not counted (lag is a lower bound).
            if position is not None:
                lag += max(0, highwater - position)
            seen, since = progress.get(tp, (position, now))
            if position != seen or (position or 0) >= highwater:
                progress[tp] = (position, now)
            elif now - since > settings.stall_seconds:
                log.warning(
                    "no progress on %s for %.0f s: %s", tp, now - since, consumer_diagnostics(app, tp, position)
                )
                progress[tp] = (position, now)
        metrics.CONSUMER_LAG.set(lag)
