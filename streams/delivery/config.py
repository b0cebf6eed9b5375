"""Delivery configuration (YAML), validated into typed objects at start-up.

Errors name the key: ``routes[1].receivers[0]: unknown receiver 'pager' (did you mean
'pagerduty'?)``. Secrets are read from environment variables or files named in the config, never
written in it, and never appear in ``repr`` or logs.

Besides receivers and routes: ``escalations`` (who is paged next when nobody acknowledges in
time; ``streams.delivery.escalation``) and ``inhibit_rules`` (alerts that mute others of
the same conversation; ``streams.delivery.inhibit``).
"""

from __future__ import annotations

import difflib
import fnmatch
import operator
import re
from collections.abc import Iterator
from functools import reduce
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from streams.delivery.escalation import EscalationPolicy, EscalationStep
from streams.delivery.inhibit import InhibitRule
from streams.delivery.models import Match, ReceiverConfig, SecretRef, StrictModel
from streams.delivery.sinks import NOTIFIERS, SINKS
from streams.errors import ConfigError
from streams.vocabulary import SEVERITIES

__all__ = [
    "SEVERITIES",
    "DeliveryConfig",
    "EscalationPolicy",
    "InhibitRule",
    "Match",
    "Receiver",
    "ReceiverConfig",
    "Redaction",
    "Route",
    "SecretRef",
    "load_delivery_config",
    "registry_rules",
]

# One union of every registered sink's config model, told apart by ``kind``.
Receiver = Annotated[reduce(operator.or_, (notifier.config for notifier in NOTIFIERS)), Field(discriminator="kind")]


class Route(StrictModel):
    match: Match = Field(default_factory=Match)
    receivers: list[str] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")


class Redaction(StrictModel):
    emails: bool = True
    phones: bool = True
    patterns: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for index, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns[{index}] is not a valid regular expression: {exc}") from None
        return patterns


class DeliveryConfig(StrictModel):
    receivers: list[Receiver] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    cooldown_seconds: float = Field(default=900, ge=0)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_initial_seconds: float = Field(default=1.0, gt=0)
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    excerpt_chars: int = Field(default=160, ge=0, le=400)
    redact: Redaction = Field(default_factory=Redaction)
    conversation_url: str | None = Field(
        default=None,
        description="Link template with {conversation_id} and/or {alert_id}; the console_url setting overrides it.",
    )
    escalations: list[EscalationPolicy] = Field(
        default_factory=list, description="Who is paged next when an alert is not acknowledged in time."
    )
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=list, description="Alerts that, once sent, mute matching alerts of the same conversation."
    )

    @model_validator(mode="after")
    def _receivers_exist(self) -> DeliveryConfig:
        names = [r.name for r in self.receivers]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"receiver names must be unique: {', '.join(sorted(duplicates))}")
        for where, name in self._receiver_references():
            if name not in names:
                raise ValueError(f"{where}: unknown receiver {name!r}{_closest(name, names)}")
        return self

    def _receiver_references(self) -> Iterator[tuple[str, str]]:
        for i, route in enumerate(self.routes):
            for j, name in enumerate(route.receivers):
                yield f"routes[{i}].receivers[{j}]", name
        for i, policy in enumerate(self.escalations):
            for j, step in enumerate(policy.steps):
                for k, name in enumerate(step.receivers):
                    yield f"escalations[{i}].steps[{j}].receivers[{k}]", name

    def _matchers(self) -> Iterator[tuple[str, Match]]:
        """Every matcher in the config, with its key (what ``unknown_names`` checks)."""
        for i, route in enumerate(self.routes):
            yield f"routes[{i}].match", route.match
        for i, policy in enumerate(self.escalations):
            yield f"escalations[{i}].match", policy.match
        for i, rule in enumerate(self.inhibit_rules):
            yield f"inhibit_rules[{i}].source", rule.source
            yield f"inhibit_rules[{i}].target", rule.target

    def receiver(self, name: str) -> ReceiverConfig:
        return next(r for r in self.receivers if r.name == name)

    def route(self, detector: str, rule: str, severity: str) -> list[str]:
        """Receivers for an alert: routes in order, the first match wins unless it says continue."""
        chosen: list[str] = []
        for _, route in self.matching_routes(detector, rule, severity):
            chosen += [name for name in route.receivers if name not in chosen]
        return chosen

    def matching_routes(self, detector: str, rule: str, severity: str) -> list[tuple[int, Route]]:
        """The routes an alert goes through, with their positions (what ``routes test`` shows)."""
        matched = []
        for index, route in enumerate(self.routes):
            if route.match.matches(detector, rule, severity):
                matched.append((index, route))
                if not route.continue_:
                    break
        return matched

    def secrets(self) -> dict[str, SecretStr]:
        """Resolve every receiver's secret now, so a missing one fails at start-up; every
        missing secret is named in one error."""
        resolved: dict[str, SecretStr] = {}
        problems = []
        for index, receiver in enumerate(self.receivers):
            field = receiver.secret_field
            if field is None:
                continue
            try:
                resolved[receiver.name] = getattr(receiver, field).resolve()
            except ValueError as exc:
                problems.append(f"receivers[{index}].{field}: {exc}")
        if problems:
            raise ConfigError("; ".join(problems))
        return resolved

    def unknown_names(self, rules: dict[str, str]) -> list[str]:
        """Routes that name a detector or rule the registry does not have (``rules``: rule ->
        detector). A typo there would silently route a page nowhere, so it is an error."""
        detectors = sorted(set(rules.values()))
        problems = []
        for where, match in self._matchers():
            for j, name in enumerate(match.detectors or ()):
                if name not in detectors:
                    problems.append(f"{where}.detectors[{j}]: unknown detector {name!r}{_closest(name, detectors)}")
            for j, pattern in enumerate(match.rules or ()):
                if not any(fnmatch.fnmatchcase(rule, pattern) for rule in rules):
                    problems.append(
                        f"{where}.rules[{j}]: {pattern!r} matches no rule{_closest(pattern, sorted(rules))}"
                    )
        return problems


_NAMES_ITS_KEY = re.compile(r"^(routes|escalations)\[\d+\]")
_NAMES_A_SUBKEY = re.compile(r"^[a-z_]+(\[\d+\])*(\.[a-z_]+(\[\d+\])*)*: ")


def _closest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _known_keys() -> list[str]:
    models = (
        DeliveryConfig,
        Route,
        Match,
        Redaction,
        SecretRef,
        EscalationPolicy,
        EscalationStep,
        InhibitRule,
        *(n.config for n in NOTIFIERS),
    )
    return sorted(
        {alias or name for model in models for name, alias in ((n, f.alias) for n, f in model.model_fields.items())}
    )


def _location(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in SINKS:
            continue  # the discriminator tag pydantic inserts
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def load_delivery_config(
    path: str | Path, rules: dict[str, str] | None = None, *, resolve_secrets: bool = True
) -> DeliveryConfig:
    """Read and validate a delivery config; with ``rules`` (rule -> detector, from the
    registry) routes naming an unknown detector or rule fail too. Secrets are resolved, unless
    ``resolve_secrets`` is false: ``routes test`` only evaluates routing and sends nothing."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"delivery config {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"delivery config {path}: not valid YAML: {exc}") from None
    try:
        config = DeliveryConfig.model_validate(raw or {})
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False, include_input=False):
            message = item["msg"].removeprefix("Value error, ")
            where = _location(item["loc"])
            if item["type"] == "extra_forbidden":
                message = "not a delivery config key" + _closest(str(item["loc"][-1]), _known_keys())
            if _NAMES_ITS_KEY.match(message):  # a config-level check names its own key (routes[1].receivers[0]: ...)
                problems.append(message)
            elif _NAMES_A_SUBKEY.match(message) and where != "(top level)":  # steps[1].after_seconds: ...
                problems.append(f"{where}.{message}")
            else:
                problems.append(f"{where}: {message}")
        raise ConfigError(f"delivery config {path}: " + "; ".join(problems)) from None
    problems = config.unknown_names(rules) if rules is not None else []
    try:
        if resolve_secrets:
            config.secrets()
    except ConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise ConfigError(f"delivery config {path}: " + "; ".join(problems))
    return config


def registry_rules() -> dict[str, str]:
    """Every rule of every discovered detector (imports the detector modules, loads no model)."""
    from detectors.registry import discover, rule_names

    return rule_names(discover().values())
