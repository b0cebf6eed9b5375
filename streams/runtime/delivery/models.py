"""The building blocks of the delivery config that the sinks share: strict models, secret
references, and the fields every receiver has. A sink's own fields live beside the sink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


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
