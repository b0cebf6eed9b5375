"""``turnwatch check-config``: every configuration problem at once, without loading a model."""

from __future__ import annotations

import re
from pathlib import Path

from streams.errors import ConfigError

# Where one problem of a delivery config ends and the next begins: "; " then the next one's key
# ("routes[1].receivers[0]: ...", "receivers[2].routing_key: ...", "(top level): ...").
_NEXT_PROBLEM = re.compile(r"; (?=(?:\(top level\)|[A-Za-z_]\w*(?:\[\d+\])*(?:\.\w+(?:\[\d+\])*)*): )")


def _each_problem(exc: ConfigError, path: str | Path) -> list[str]:
    """A delivery config error lists its problems in one message; one entry per problem, each
    keeping the "delivery config PATH: " it came with."""
    prefix = f"delivery config {path}: "
    message = str(exc)
    if not message.startswith(prefix):
        return exc.problems
    return [prefix + part for part in _NEXT_PROBLEM.split(message.removeprefix(prefix))]


def check_config(config_file: str | None, delivery: str | None) -> tuple[list[str], list[str]]:
    """(problems, summary lines). Settings first: without them nothing else can be read."""
    from detectors.registry import discover, rule_names, select
    from streams.delivery.config import load_delivery_config, registry_rules
    from streams.monitor.build import load_rule_thresholds
    from streams.settings import detector_problems, load_settings

    try:
        settings = load_settings(config_file)
    except ConfigError as exc:
        return exc.problems, []
    problems: list[str] = []
    summary = [
        f"settings: broker {settings.broker or 'embedded'}, {settings.partitions} partitions, "
        f"encoder {settings.encoder_backend}"
    ]
    available = discover()
    detectors = detector_problems(settings, config_file)
    problems += detectors
    if not detectors:
        chosen = select(available, settings.detectors, settings.detector_options)
        summary.append(f"detectors: {', '.join(d.name for d in chosen)}")
    if settings.rule_thresholds is not None:
        try:
            thresholds = load_rule_thresholds(settings.rule_thresholds, rule_names(available.values()))
            summary.append(f"rule thresholds: {len(thresholds)} rules ({settings.rule_thresholds})")
        except ConfigError as exc:
            problems += exc.problems
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
            problems += _each_problem(exc, path)
    return problems, summary
