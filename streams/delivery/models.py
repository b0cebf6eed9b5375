"""The building blocks of the delivery config that its parts share: strict models, secret
references, the fields every receiver has, and the alert matcher that routes, escalation policies
and inhibition rules use. A sink's own fields live beside the sink."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from streams.vocabulary import SEVERITIES

Severity = Literal[SEVERITIES]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(StrictModel):
    """Where a secret comes from: exactly one of ``env`` or ``file``."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env or file")
        return self

    def resolve(self) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        try:
            return SecretStr(self.file.read_text().strip())
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from None


class ReceiverConfig(StrictModel):
    """Fields every receiver has; a sink subclasses it with ``kind`` and its own fields."""

    # The field holding the receiver's SecretRef, resolved at start-up (None: no secret).
    secret_field: ClassVar[str | None] = None

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class Match(StrictModel):
    """Which alerts a route, an escalation policy or an inhibition rule is about: every given
    condition must hold (``rules`` are globs such as ``therapist.*``)."""

    detectors: list[str] | None = None
    rules: list[str] | None = Field(default=None, description="Glob patterns, e.g. therapist.*")
    min_severity: Severity = "info"
    max_severity: Severity = "critical"

    @model_validator(mode="after")
    def _range(self) -> Match:
        if SEVERITIES.index(self.min_severity) > SEVERITIES.index(self.max_severity):
            raise ValueError(f"min_severity {self.min_severity} is above max_severity {self.max_severity}")
        return self

    def matches(self, detector: str, rule: str, severity: str) -> bool:
        if self.detectors is not None and detector not in self.detectors:
            return False
        if self.rules is not None and not any(fnmatch.fnmatchcase(rule, pattern) for pattern in self.rules):
            return False
        rank = SEVERITIES.index(severity)
        return SEVERITIES.index(self.min_severity) <= rank <= SEVERITIES.index(self.max_severity)
