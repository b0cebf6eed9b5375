"""One turn's way through turnwatch, without Kafka: validate, update state, detect, alert.

The monitor agent and ``turnwatch scan`` both run this module, so what a scan prints is
what the worker would have published:

    store = ConversationStore()                    # dicts; the worker's wraps its Faust tables
    prepared = pipeline.prepare(raw_events, store) # validate + features, batched
    for item in prepared:
        result = pipeline.step(store, item)
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from detectors.features import PREVIOUS_PATIENT_TEXT, TurnFeatures
from detectors.findings import Finding, Severity
from detectors.registry import Detector
from detectors.state import Arrival, ConversationState, TurnRecord
from streams import metrics
from streams.contracts import Alert, DeadLetter, DistressPoint, EvidenceItem, TurnEvent, parse_turn
from streams.errors import InvalidTurn
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.episodes import EpisodeBook, alert_id

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


class FeatureExtractor(Protocol):
    """Computes features for a batch of turns once; results are kept with each turn."""

    name: str

    def extract(
        self, texts: Sequence[str], roles: Sequence[str], metas: Sequence[dict[str, Any]]
    ) -> list[TurnFeatures]: ...


@dataclass
class Prepared:
    """A validated event with its features, or the dead letter it became."""

    event: TurnEvent | None = None
    features: TurnFeatures = field(default_factory=TurnFeatures)
    dead_letter: DeadLetter | None = None
    context: dict[str, Any] = field(default_factory=dict)  # what extractors read beside the event's meta
    wants_features: bool = False  # admitted: new to its conversation and first of its key in the batch


@dataclass
class StepResult:
    event: TurnEvent | None
    arrival: Arrival | None = None
    alerts: list[Alert] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    detector_seconds: dict[str, float] = field(default_factory=dict)
    features: TurnFeatures = field(default_factory=TurnFeatures)
    observations: dict[str, float] = field(default_factory=dict)  # e.g. the session's counselling quality
    below_threshold: list[str] = field(default_factory=list)  # rules of findings under their min_score

    @property
    def processed(self) -> bool:
        return self.arrival in (Arrival.NEXT, Arrival.GAP)


def add_previous_patient_text(items: Sequence[Prepared], store: ConversationStore | None) -> None:
    """Give each therapist turn the text of the patient turn it answers: the latest patient turn of its
    conversation earlier in the batch, or in the stored window."""
    latest: dict[str, str] = {}
    for item in items:
        event = item.event
        if event is None:
            continue
        conversation = event.conversation_id
        if event.role == "patient":
            latest[conversation] = event.text
        elif event.role == "therapist":
            if conversation not in latest and store is not None:
                latest[conversation] = store.last_patient_text(conversation)
            if latest.get(conversation):
                item.context[PREVIOUS_PATIENT_TEXT] = latest[conversation]


__all__ = ["DeadLetter", "Pipeline", "Prepared", "StepResult", "alert_id", "record_metrics"]


class DetectorContractError(RuntimeError):
    """A detector returned a finding that breaks the contract (wrong name or an undeclared rule)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    def __init__(
        self,
        detectors: Sequence[Detector],
        *,
        extractors: Sequence[FeatureExtractor] = (),
        window_size: int = 24,
        max_text_bytes: int = 16 * 1024,
        clock: Clock = utcnow,
        min_scores: Mapping[str, float] | None = None,
    ) -> None:
        self.detectors = list(detectors)
        self.extractors = list(extractors)
        self.window_size = window_size
        self.max_text_bytes = max_text_bytes
        self.clock = clock
        # Per rule, the score a finding needs to become an alert (``turnwatch train --verdicts``); a
        # finding below it is dropped before the episode book sees it, so a stronger one may still alert.
        # A critical finding (a page) is never held back: pages are set by the calibrated crisis
        # thresholds, not by reviewers' precision, and a held-back page would be a missed crisis.
        self.min_scores = dict(min_scores or {})

    def with_min_scores(self, min_scores: Mapping[str, float] | None) -> Pipeline:
        """The same detectors and extractors (models shared, not reloaded) under other rule thresholds."""
        other = copy.copy(self)
        other.min_scores = dict(min_scores or {})
        return other

    def prepare(self, raws: Sequence[Any], store: ConversationStore | None = None) -> list[Prepared]:
        """Validate a batch and compute features for its valid events in one pass.

        With ``store``, turns already processed (redeliveries) are not encoded again.
        """
        prepared = self.admit(raws, store)
        self.extract(prepared)
        return prepared

    def admit(self, raws: Sequence[Any], store: ConversationStore | None = None) -> list[Prepared]:
        """``prepare`` without the features: validate, mark what needs features, and give therapist
        turns the patient text they answer. Reads ``store`` as it is before the batch."""
        prepared = [self._parse(raw) for raw in raws]
        seen: set[tuple[str, int]] = set()
        for item in prepared:
            if item.event is None:
                continue
            key = (item.event.conversation_id, item.event.turn_index)
            if key in seen or (store is not None and store.already_processed(*key)):
                continue
            seen.add(key)
            item.wants_features = True
        add_previous_patient_text([item for item in prepared if item.wants_features], store)
        return prepared

    def extract(self, admitted: Sequence[Prepared]) -> None:
        """The features of admitted items, in place. Items are independent once admitted, so a
        batch may be extracted in slices while earlier slices are stepped."""
        for extractor in self.extractors:
            self._extract(extractor, [item for item in admitted if item.wants_features and item.event is not None])

    def _parse(self, raw: Any) -> Prepared:
        try:
            return Prepared(event=parse_turn(raw, self.max_text_bytes))
        except InvalidTurn as exc:
            return Prepared(dead_letter=DeadLetter(exc.reason, exc.detail, raw))
        except Exception as exc:  # a validation bug costs this event only, never its batch
            log.exception("validation failed unexpectedly; event sent to the dead-letter topic")
            return Prepared(dead_letter=DeadLetter("processing_error", f"validation: {type(exc).__name__}", raw))

    def _extract(self, extractor: FeatureExtractor, items: list[Prepared]) -> None:
        """Features for the batch in one call; if that fails, event by event, so that one event
        that breaks an extractor is dead-lettered alone and the others keep their features."""
        try:
            self._extract_batch(extractor, items)
            return
        except Exception:
            log.exception("feature extraction failed for a batch of %d; retrying event by event", len(items))
        if len(items) == 1:
            self._fail(items[0])
            return
        for item in items:
            try:
                self._extract_batch(extractor, [item])
            except Exception:
                log.exception("feature extraction failed for one event")
                self._fail(item)

    @staticmethod
    def _extract_batch(extractor: FeatureExtractor, batch: list[Prepared]) -> None:
        found = extractor.extract(
            [p.event.text for p in batch], [p.event.role for p in batch], [{**p.event.meta, **p.context} for p in batch]
        )
        for item, features in zip(batch, found):
            item.features.merge(features)

    @staticmethod
    def _fail(item: Prepared) -> None:
        item.dead_letter = DeadLetter("processing_error", "feature extraction failed", item.event)
        item.event = None

    def step(self, store: ConversationStore, item: Prepared) -> StepResult:
        """Apply one prepared event to its conversation's state and run the detectors."""
        if item.event is None:
            return StepResult(event=None, dead_letter=item.dead_letter)
        event = item.event
        state = store.load(event.conversation_id, self.window_size)
        arrival = state.arrival(event.turn_index)
        if arrival is Arrival.DUPLICATE:
            return StepResult(event=event, arrival=arrival)
        if arrival is Arrival.LATE:
            state.forget_missing(event.turn_index)
            store.save(state)
            detail = f"turn_index: {event.turn_index} arrived after turn {state.last_index} was processed"
            return StepResult(event=event, arrival=arrival, dead_letter=DeadLetter("out_of_order", detail, event))

        turn = TurnRecord(
            index=event.turn_index, role=event.role, text=event.text, features=item.features, ts=event.ts.timestamp()
        )
        state.record(turn)
        result = StepResult(event=event, arrival=arrival, features=item.features)
        if event.role != "system":
            found = []
            for detector in self.detectors:
                started = time.perf_counter()
                findings = detector.detect(state, turn)
                result.detector_seconds[detector.name] = time.perf_counter() - started
                found.append((detector, findings))
                observe = getattr(detector, "observations", None)
                if observe is not None:
                    result.observations.update(observe(state))
            for detector, findings in found:
                result.alerts.extend(self._alerts(state, detector, findings, result))
        store.save(state)
        return result

    def held_back(self, finding: Finding) -> bool:
        """Whether the rule's threshold holds the finding back: its score, compared as the alert shows
        it, is under the rule's min_score, and it is not a page (critical)."""
        if finding.severity is Severity.CRITICAL:
            return False
        return round(finding.score, 4) < self.min_scores.get(finding.rule, 0.0)

    def _alerts(
        self, state: ConversationState, detector: Detector, findings: list[Finding], result: StepResult
    ) -> list[Alert]:
        book = EpisodeBook(state.conversation_id, state.episodes)
        alerts = []
        for finding in findings:
            if finding.detector != detector.name or finding.rule not in detector.rules:
                raise DetectorContractError(
                    f"detector {detector.name!r} returned {finding.detector!r}/{finding.rule!r}, "
                    f"which it does not declare in its rules"
                )
            if self.held_back(finding):
                result.below_threshold.append(finding.rule)
                continue
            key = book.admit(finding)
            if key is not None:
                quality = result.observations.get("session_quality")
                alerts.append(self._to_alert(key, state, detector, finding, quality))
        return alerts

    def _to_alert(
        self, key: str, state: ConversationState, detector: Detector, finding: Finding, quality: float | None
    ) -> Alert:
        return Alert(
            alert_id=key,
            conversation_id=state.conversation_id,
            detector=finding.detector,
            rule=finding.rule,
            severity=finding.severity.label,
            turns=list(finding.turns),
            evidence=[
                EvidenceItem(turn_index=e.turn_index, role=e.role, quote=e.quote, why=e.why) for e in finding.evidence
            ],
            score=round(finding.score, 4),
            taxonomy=list(finding.taxonomy),
            summary=finding.summary,
            suggested_action=finding.suggested_action,
            created_at=self.clock(),
            detector_version=detector.version,
            distress=distress_curve(state),
            session_quality=quality,
        )


def distress_curve(state: ConversationState) -> list[DistressPoint]:
    return [
        DistressPoint(turn_index=turn.index, score=round(turn.features.distress.score, 3))
        for turn in state.window
        if turn.role == "patient" and turn.features.distress is not None
    ]


def record_metrics(result: StepResult) -> None:
    """Count one step's outcome; shared by the agent and the in-process scan."""
    if result.dead_letter is not None:
        metrics.DEAD_LETTERS.labels(result.dead_letter.reason).inc()
    if result.arrival is Arrival.DUPLICATE:
        metrics.DUPLICATE_TURNS.inc()
    if result.arrival is Arrival.GAP:
        metrics.TURN_GAPS.inc()
    if result.event is not None and result.event.unknown_fields:
        metrics.UNKNOWN_FIELDS.inc(len(result.event.unknown_fields))
    if result.processed and result.event is not None:
        metrics.TURNS.labels(result.event.role).inc()
        if result.features.distress is not None:
            metrics.DISTRESS_SCORE.observe(result.features.distress.score)
    for name, seconds in result.detector_seconds.items():
        metrics.DETECTOR_SECONDS.labels(name).observe(seconds)
    if "session_quality" in result.observations:
        metrics.SESSION_QUALITY.observe(result.observations["session_quality"])
    for rule in result.below_threshold:
        metrics.FINDINGS_BELOW_THRESHOLD.labels(rule).inc()
    for alert in result.alerts:
        metrics.ALERTS.labels(alert.detector, alert.severity).inc()
        metrics.ALERTS_BY_RULE.labels(alert.rule).inc()
