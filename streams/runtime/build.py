"""Builds the models and the pipeline from settings, without Faust.

The worker, ``scan``, ``eval`` and the tests all assemble the pipeline here, so none of them
needs the Faust app to run detectors.
"""

from __future__ import annotations

from typing import Any

from detectors.crisis import CrisisDetector
from detectors.crisis.conversation import DEFAULT_MODEL, ConversationModel
from detectors.crisis.sentence_head import CrisisRiskModel
from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.extractor import TurnFeatureExtractor
from detectors.registry import discover, select
from detectors.therapist.codes import CodesModel
from streams.errors import ConfigError
from streams.runtime.pipeline import Pipeline
from streams.settings import Settings


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
    return Pipeline(
        with_crisis_model(detectors, settings),
        extractors=[build_extractor(settings)] if extractors is None else extractors,
        window_size=settings.state_window,
        max_text_bytes=settings.max_text_bytes,
    )
