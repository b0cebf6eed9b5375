"""``turnwatch check-config``: every configuration problem at once, without loading a model."""

from __future__ import annotations

from pathlib import Path

from streams.errors import ConfigError


def check_config(config_file: str | None, delivery: str | None) -> tuple[list[str], list[str]]:
    """(problems, summary lines). Settings first: without them nothing else can be read."""
    from detectors.registry import discover, select
    from streams.runtime.delivery.config import load_delivery_config, registry_rules
    from streams.settings import load_settings

    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        return [str(exc)], []
    problems: list[str] = []
    summary = [
        f"settings: broker {settings.broker or 'embedded'}, {settings.partitions} partitions, "
        f"encoder {settings.encoder_backend}"
    ]
    available = discover()
    try:
        chosen = select(available, settings.detectors, settings.detector_options)
        summary.append(f"detectors: {', '.join(d.name for d in chosen)}")
    except ValueError as exc:
        problems.append(f"TURNWATCH_DETECTORS / TURNWATCH_DETECTOR_OPTIONS: {exc}")
    for key in ("emotion_head", "crisis_head", "crisis_conversation_model", "counselling_head", "encoder_model"):
        value = getattr(settings, key)
        if value is not None and not settings.encoder_allow_download and not Path(value).exists():
            problems.append(f"TURNWATCH_{key.upper()} ({key}): {value} does not exist")
    path = delivery or settings.delivery_config
    if path is None:
        summary.append("delivery: none configured (alerts stay on the alerts topic)")
    else:
        try:
            config = load_delivery_config(path, registry_rules())
            summary.append(f"delivery: {len(config.receivers)} receivers, {len(config.routes)} routes ({path})")
        except ConfigError as exc:
            problems.append(str(exc))
    return problems, summary
