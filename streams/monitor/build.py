"""Builds the models and the pipeline from settings, without Faust.

The worker, ``scan``, ``eval`` and the tests all assemble the pipeline here, so none of them
needs the Faust app to run detectors. The per-rule thresholds of ``turnwatch train --verdicts``
(``rule_thresholds``) are read here as well, so a worker picks up new ones when it restarts.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from detectors.crisis import CrisisDetector
from detectors.crisis.conversation import DEFAULT_MODEL, ConversationModel
from detectors.crisis.sentence_head import CrisisRiskModel
from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.extractor import TurnFeatureExtractor
from detectors.registry import discover, rule_names, select
from detectors.therapist.codes import CodesModel
from streams.errors import ConfigError
from streams.monitor.pipeline import Pipeline
from streams.settings import Settings

log = logging.getLogger(__name__)
THRESHOLDS_KEY = "TURNWATCH_RULE_THRESHOLDS (rule_thresholds)"


class RuleThreshold(BaseModel):
    """One rule's entry in a thresholds file: the score a finding needs to become an alert, and where
    that number came from."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(ge=0.0, le=1.0)
    trained_on: int | None = Field(default=None, ge=0, description="Judged examples it was chosen on.")
    target_precision: float | None = Field(default=None, gt=0.0, le=1.0)
    made_at: AwareDatetime | None = None


def load_rule_thresholds(path: Path, known_rules: Collection[str]) -> dict[str, RuleThreshold]:
    """A thresholds file (``{rule: {"min_score": ...}}``) checked against the rules the detectors declare.

    Raises ConfigError naming the file and every bad key at once.
    """
    try:
        loaded = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{THRESHOLDS_KEY}: cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{THRESHOLDS_KEY}: {path} is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f'{THRESHOLDS_KEY}: {path}: expected an object of rule -> {{"min_score": ...}}')
    problems, thresholds = [], {}
    for rule, entry in loaded.items():
        if rule not in known_rules:
            guess = difflib.get_close_matches(rule, list(known_rules), n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            problems.append(f"{rule}: not a rule of any detector{hint}")
            continue
        try:
            thresholds[rule] = RuleThreshold.model_validate(entry)
        except ValidationError as exc:
            for item in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(part) for part in (rule, *item["loc"]))
                problems.append(f"{where}: {item['msg']}")
    if problems:
        raise ConfigError(f"{THRESHOLDS_KEY}: {path}: " + "; ".join(problems))
    return thresholds


def build_rule_thresholds(settings: Settings) -> dict[str, RuleThreshold]:
    """The entries of ``settings.rule_thresholds``; none when it is unset."""
    if settings.rule_thresholds is None:
        return {}
    return load_rule_thresholds(settings.rule_thresholds, rule_names(discover().values()))


def build_min_scores(settings: Settings) -> dict[str, float]:
    """Per rule, the score a finding needs to be alerted (``settings.rule_thresholds``)."""
    min_scores = {rule: entry.min_score for rule, entry in build_rule_thresholds(settings).items()}
    if min_scores:
        log.info("rule thresholds from %s: %s", settings.rule_thresholds, min_scores)
    return min_scores


def build_crisis_model(settings: Settings) -> CrisisRiskModel:
    model = CrisisRiskModel.load(settings.crisis_head)
    try:
        return model.with_thresholds(
            page=settings.crisis_page_threshold,
            review=settings.crisis_review_threshold,
            history=settings.crisis_history_threshold,
        )
    except ValueError as exc:
        raise ConfigError(f"TURNWATCH_CRISIS_PAGE_THRESHOLD / TURNWATCH_CRISIS_REVIEW_THRESHOLD: {exc}") from None


def build_conversation_model(settings: Settings) -> ConversationModel:
    model = ConversationModel.load(settings.crisis_conversation_model or DEFAULT_MODEL)
    try:
        return model.with_thresholds(
            page=settings.crisis_conversation_page_threshold, review=settings.crisis_conversation_review_threshold
        )
    except ValueError as exc:
        raise ConfigError(
            f"TURNWATCH_CRISIS_CONVERSATION_PAGE_THRESHOLD / TURNWATCH_CRISIS_CONVERSATION_REVIEW_THRESHOLD: {exc}"
        ) from None


def with_crisis_model(detectors: list[Any], settings: Settings) -> list[Any]:
    """The crisis detector given the conversation model the settings name (the others as they are)."""
    return [
        d.with_conversation_model(build_conversation_model(settings)) if isinstance(d, CrisisDetector) else d
        for d in detectors
    ]


def build_extractor(settings: Settings) -> TurnFeatureExtractor:
    """The encoder and the heads, loaded once per process from local files."""
    encoder = Encoder(
        settings.encoder_model,
        settings.encoder_backend,
        batch_size=settings.encoder_batch_size,
        threads=settings.encoder_threads,
        cache_dir=settings.model_cache_dir,
        allow_download=settings.encoder_allow_download,
    )
    head = EmotionHead.load(settings.emotion_head) if settings.emotion_head else EmotionHead.load()
    return TurnFeatureExtractor(encoder, head, build_crisis_model(settings), CodesModel.load(settings.counselling_head))


def build_pipeline(settings: Settings, extractors: list[Any] | None = None) -> Pipeline:
    try:
        detectors = select(discover(), settings.detectors, settings.detector_options)
    except ValueError as exc:
        raise ConfigError(f"TURNWATCH_DETECTOR_OPTIONS / TURNWATCH_DETECTORS: {exc}") from None
    min_scores = build_min_scores(settings)  # a bad file fails before any model loads
    return Pipeline(
        with_crisis_model(detectors, settings),
        extractors=[build_extractor(settings)] if extractors is None else extractors,
        window_size=settings.state_window,
        max_text_bytes=settings.max_text_bytes,
        min_scores=min_scores,
    )
