"""Feeds the console's store from the alerts and turns topics.

Only the turns reviewers need are stored: for each alert, its own turns and evidence plus
``context`` turns before and after. Recent turns of every conversation are buffered in memory
(bounded), so the turns before an alert are at hand when it arrives; turns that arrive after
the alert (or after a lagging read of the turns topic) are caught by a watch on the alert's
range. Offsets are committed after the store has the records: a crash re-reads, and the store
is idempotent on alert_id and (conversation_id, turn_index).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kafka import KafkaConsumer
from pydantic import ValidationError

from streams import metrics
from streams.console.silence_store import SilenceStore
from streams.console.views import AlertSummary
from streams.contracts import Alert, SilenceEvent, TurnEvent, parse_turn
from streams.errors import InvalidTurn
from streams.vocabulary import VERDICTS

log = logging.getLogger(__name__)

BUFFERED_TURNS_PER_CONVERSATION = 64
MAX_BUFFERED_CONVERSATIONS = 20_000
MAX_WATCHES = 20_000


@dataclass
class TurnSelector:
    """Which turns to keep: the recent ones of every conversation, the watched ranges of alerts."""

    context: int
    recent: OrderedDict[str, deque[TurnEvent]] = field(default_factory=OrderedDict)
    watches: OrderedDict[str, tuple[int, int]] = field(default_factory=OrderedDict)

    def on_turn(self, turn: TurnEvent) -> list[TurnEvent]:
        """Buffer the turn; return it if an alert's range wants it stored."""
        buffered = self.recent.pop(turn.conversation_id, None) or deque(maxlen=BUFFERED_TURNS_PER_CONVERSATION)
        buffered.append(turn)
        self.recent[turn.conversation_id] = buffered
        if len(self.recent) > MAX_BUFFERED_CONVERSATIONS:
            self.recent.popitem(last=False)
        watch = self.watches.get(turn.conversation_id)
        return [turn] if watch is not None and watch[0] <= turn.turn_index <= watch[1] else []

    def on_alert(self, alert: Alert) -> list[TurnEvent]:
        """Watch the alert's range; return the buffered turns already inside it."""
        indices = [*alert.turns, *(item.turn_index for item in alert.evidence)]
        low, high = max(0, min(indices) - self.context), max(indices) + self.context
        watched = self.watches.pop(alert.conversation_id, None)
        if watched is not None:
            low, high = min(low, watched[0]), max(high, watched[1])
        self.watches[alert.conversation_id] = (low, high)
        if len(self.watches) > MAX_WATCHES:
            self.watches.popitem(last=False)
        return [t for t in self.recent.get(alert.conversation_id, ()) if low <= t.turn_index <= high]


class Collector(threading.Thread):
    """Consumes alerts and turns into the store; new alerts go to ``on_alert`` (the live feed)."""

    def __init__(
        self,
        store,
        consumer_options: dict,
        alerts_topic: str,
        turns_topic: str,
        context: int,
        on_alert: Callable[[AlertSummary], None],
        silences_topic: str | None = None,
    ) -> None:
        super().__init__(name="console-collector", daemon=True)
        self.store = store
        self.consumer_options = consumer_options
        self.alerts_topic, self.turns_topic, self.silences_topic = alerts_topic, turns_topic, silences_topic
        self.selector = TurnSelector(context)
        self.on_alert = on_alert
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.alerts_stored = 0
        self.unreadable = 0

    def run(self) -> None:
        consumer = KafkaConsumer(**self.consumer_options)
        consumer.subscribe([t for t in (self.alerts_topic, self.turns_topic, self.silences_topic) if t])
        try:
            while not self.stopping.is_set():
                batches = consumer.poll(timeout_ms=250, max_records=500)
                self.ready.set()
                if not batches:
                    continue
                for tp, records in batches.items():
                    self._handle(tp.topic, (r.value for r in records))
                consumer.commit()
        except Exception:
            log.exception("the console collector stopped")
            raise
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()

    def _handle(self, topic: str, values: Iterable[bytes]) -> None:
        if topic == self.silences_topic:
            for value in values:
                self._save_silence(value)
            return
        keep: list[TurnEvent] = []
        for value in values:
            if topic == self.turns_topic:
                turn = self._read_turn(value)
                if turn is not None:
                    keep += self.selector.on_turn(turn)
                continue
            alert = self._read_alert(value)
            if alert is None:
                continue
            keep += self.selector.on_alert(alert)
            saved = self.store.save_alert(alert)
            if saved is not None:
                self.alerts_stored += 1
                metrics.CONSOLE_ALERTS_STORED.labels(alert.severity).inc()
                if saved.change == "reopened":
                    metrics.CONSOLE_REOPENED.inc()
                for verdict in VERDICTS:  # series from 0, so the first verdict shows as an increase
                    metrics.VERDICTS.labels(alert.rule, verdict)
                self.on_alert(saved.summary)
        if keep:
            self.store.save_turns(keep)

    def _save_silence(self, value: bytes) -> None:
        try:
            silence = SilenceEvent.model_validate_json(value)
        except ValueError as exc:
            self.unreadable += 1
            log.warning("console skipped an unreadable silence: %s", type(exc).__name__)
            return
        SilenceStore(self.store.engine).save(silence)

    def _read_turn(self, value: bytes) -> TurnEvent | None:
        try:
            return parse_turn(value)
        except InvalidTurn:
            return None  # the monitor dead-letters it; the console has nothing to show

    def _read_alert(self, value: bytes) -> Alert | None:
        try:
            return Alert.model_validate_json(value)
        except (ValidationError, ValueError) as exc:
            self.unreadable += 1
            log.warning("console skipped an unreadable alert: %s", type(exc).__name__)
            return None
