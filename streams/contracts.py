"""The event and alert contracts (GUIDE §2) and the validation on the way in."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    field_validator,
)

from streams.errors import InvalidTurn
from streams.vocabulary import REVIEW_ACTIONS, SEVERITIES, VERDICTS

TURN_SCHEMA_ID = "turnwatch.turn/1"
ALERT_SCHEMA_ID = "turnwatch.alert/1"
VERDICT_SCHEMA_ID = "turnwatch.verdict/1"
DEFAULT_MAX_TEXT_BYTES = 16 * 1024
MAX_TURN_INDEX = 1_000_000
MAX_META_DEPTH = 8
MAX_META_BYTES = 32 * 1024
SUPPORTED_SCHEMA_VERSIONS = (1,)

Role = Literal["patient", "therapist", "system"]
SeverityName = Literal[SEVERITIES]

_ID = {"min_length": 1, "max_length": 200, "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:@/+-]*$"}


class TurnEvent(BaseModel):
    """One conversation turn as published on ``turnwatch.turns`` (key = conversation_id).

    Forward-compatible: top-level fields this version does not know are ignored (and counted),
    so a producer can add one before the monitor learns it; a ``schema_version`` this
    version does not support is refused (dead letter ``schema_version``).
    """

    model_config = ConfigDict(extra="ignore", title="TurnEvent", json_schema_extra={"$id": TURN_SCHEMA_ID})

    event_id: str = Field(description="Unique id of this event, for idempotency.", **_ID)
    conversation_id: str = Field(description="Conversation the turn belongs to; the Kafka key.", **_ID)
    turn_index: StrictInt = Field(
        ge=0, le=MAX_TURN_INDEX, description="0-based, strictly increasing within a conversation."
    )
    role: Role = Field(description="Who spoke. `system` turns are kept but not judged.")
    text: str = Field(description="What the speaker said (for the therapist: what the patient saw).")
    ts: AwareDatetime = Field(description="When the turn happened, RFC 3339 with a UTC offset.")
    meta: dict[str, Any] = Field(
        default_factory=dict,
        description="Free map. Known keys: therapist_reasoning, injected_note, model, locale.",
    )
    schema_version: StrictInt = Field(
        default=1,
        description=f"Contract version; supported: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}. Absent means 1.",
    )
    _unknown_fields: tuple[str, ...] = PrivateAttr(default=())

    @property
    def unknown_fields(self) -> tuple[str, ...]:
        """Top-level fields of the raw event that this version ignored."""
        return self._unknown_fields

    @field_validator("ts", mode="before")
    @classmethod
    def _ts_is_text(cls, value: Any) -> Any:
        if not isinstance(value, (str, datetime)):
            raise ValueError("must be an RFC 3339 string, not a number")
        return value

    @field_validator("meta")
    @classmethod
    def _meta_is_bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_META_DEPTH:
            raise ValueError(f"nested deeper than {MAX_META_DEPTH} levels")
        if len(json.dumps(value, default=str).encode("utf-8", errors="replace")) > MAX_META_BYTES:
            raise ValueError(f"larger than {MAX_META_BYTES} bytes")
        return value

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def _depth(value: Any) -> int:
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in item)
    return deepest


class EvidenceItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_index: int = Field(ge=0)
    role: Role
    quote: str = Field(max_length=400, description="A short excerpt, redacted before delivery.")
    why: str


class DistressPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_index: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)


class Alert(BaseModel):
    """A finding raised to reviewers, published on ``turnwatch.alerts`` (key = conversation_id)."""

    model_config = ConfigDict(extra="forbid", title="Alert", json_schema_extra={"$id": ALERT_SCHEMA_ID})

    alert_id: str = Field(description="Stable hash of conversation, rule and opening turn; the dedup key downstream.")
    conversation_id: str
    detector: str = Field(pattern=r"^[a-z][a-z_]*$", description="A detector from the registry, e.g. crisis.")
    rule: str = Field(pattern=r"^[a-z][a-z_]*\.[a-z_]+$", description="e.g. therapist.out_of_conversation_promise")
    severity: SeverityName
    turns: list[int]
    evidence: list[EvidenceItem]
    score: float = Field(ge=0.0, le=1.0)
    taxonomy: list[str] = Field(default_factory=list, description="CoralMind reference ids (kl-NNNNNN).")
    summary: str = Field(description="One pager line.")
    suggested_action: str
    created_at: datetime
    detector_version: str
    distress: list[DistressPoint] = Field(
        default_factory=list,
        description="Distress of the patient turns in the conversation's window when the alert was raised "
        "(the reviewer's distress curve); empty when no turn had a score.",
    )
    session_quality: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="The conversation's rolling counselling-quality score when the alert was raised "
        "(therapist codes; None before enough AI turns).",
    )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False)[:5]:
        field = ".".join(str(p) for p in item["loc"]) or "(event)"
        parts.append(f"{field}: {item['msg']}")
    return "; ".join(parts)


def _invalid_unicode_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (key or value) that cannot be encoded as UTF-8, if any.

    JSON allows escaped lone surrogates ("\\ud800"); Python decodes them into strings that
    fail later, wherever the text is encoded.
    """
    pending = [(path, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return where or "(event)"
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and _invalid_unicode_at(key) is not None:
                    return (where or "(event)") + " (a key)"
                pending.append((name, child))
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
    return None


def decode_json(raw: bytes | str) -> Any:
    """JSON text into Python values, or InvalidTurn: never another exception.

    ``json.loads`` raises RecursionError (not ValueError) on arrays or objects nested a few
    thousand levels deep; one such message must cost itself only, never its neighbours.
    """
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidTurn("invalid_json", f"not JSON ({type(exc).__name__})") from None
    except RecursionError:
        raise InvalidTurn("invalid_json", "nested too deeply to read") from None


def parse_turn(raw: bytes | str | dict[str, Any], max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> TurnEvent:
    """Validate one raw event into a TurnEvent or raise InvalidTurn naming the field."""
    if isinstance(raw, (bytes, str)):
        raw = decode_json(raw)
    if not isinstance(raw, dict):
        raise InvalidTurn("invalid_json", f"expected a JSON object, got {type(raw).__name__}")
    broken = _invalid_unicode_at(raw)
    if broken is not None:
        raise InvalidTurn("schema", f"{broken}: not valid Unicode (a lone surrogate)")
    version = raw.get("schema_version", 1)
    if type(version) is not int or version not in SUPPORTED_SCHEMA_VERSIONS:
        shown = version if type(version) is int else type(version).__name__
        raise InvalidTurn(
            "schema_version",
            f"schema_version: {shown} is not supported "
            f"(this monitor reads {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})",
        )
    try:
        event = TurnEvent.model_validate(raw)
    except ValidationError as exc:
        raise InvalidTurn("schema", _describe(exc)) from None
    event._unknown_fields = tuple(sorted(k for k in raw if k not in TurnEvent.model_fields))
    size = len(event.text.encode())
    if size > max_text_bytes:
        raise InvalidTurn("text_too_large", f"text: {size} bytes exceeds the limit of {max_text_bytes}")
    return event


MAX_NOTE_CHARS = 2000
VerdictAction = Literal[REVIEW_ACTIONS]
VerdictValue = Literal[VERDICTS]


class VerdictEvent(BaseModel):
    """A reviewer's action on an alert, published on ``turnwatch.verdicts`` (key = alert_id).

    Carries ids, the rule and the reviewer's words about the alert, never turn text. Delivery reads
    these too: an acknowledgement or resolution goes to the paging receivers (PagerDuty, a Slack
    message) and stops the alert's escalation steps.
    """

    model_config = ConfigDict(extra="forbid", title="VerdictEvent", json_schema_extra={"$id": VERDICT_SCHEMA_ID})

    action_id: str = Field(description="Unique per action; the dedup key downstream.")
    alert_id: str
    conversation_id: str
    detector: str
    rule: str
    severity: SeverityName
    action: VerdictAction
    verdict: VerdictValue | None = Field(default=None, description="Set when action is verdict.")
    corrected: str | None = Field(
        default=None,
        max_length=200,
        description="With wrong_severity, the severity it should have had; with wrong_rule, the rule it should have been.",
    )
    assignee: str | None = Field(default=None, max_length=200, description="With assign: who took the alert.")
    note: str = Field(
        default="", max_length=MAX_NOTE_CHARS, description="The reviewer's note (may hold clinical judgement)."
    )
    actor: str = Field(description="Who acted, as authenticated by the console.")
    role: Literal["reviewer"] = "reviewer"
    at: AwareDatetime

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


SILENCE_SCHEMA_ID = "turnwatch.silence/1"
MatcherName = Literal["detector", "rule", "severity", "conversation_id"]


class Matcher(BaseModel):
    """One condition of a silence: ``rule`` and ``detector`` take globs (``therapist.*``), the others equality."""

    model_config = ConfigDict(extra="forbid")

    name: MatcherName
    value: str = Field(min_length=1, max_length=200)

    def matches(self, alert: Alert) -> bool:
        import fnmatch

        actual = getattr(alert, self.name)
        if self.name in ("rule", "detector"):
            return fnmatch.fnmatchcase(actual, self.value)
        return actual == self.value


class SilenceEvent(BaseModel):
    """A silence, as Alertmanager keeps them: notifications of alerts matching every matcher are held back
    from ``starts_at`` to ``ends_at`` (the console still shows the alerts). Published on
    ``turnwatch.silences`` (key = silence_id, compacted: the latest version wins); expiring a silence
    publishes it again with ``ends_at`` set to the time it was expired. Never deleted: kept for audit."""

    model_config = ConfigDict(extra="forbid", title="SilenceEvent", json_schema_extra={"$id": SILENCE_SCHEMA_ID})

    silence_id: str = Field(**_ID)
    matchers: list[Matcher] = Field(min_length=1, max_length=8)
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(min_length=1, max_length=1000, description="Why; required, as in Alertmanager.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    expired_by: str | None = Field(default=None, max_length=200, description="Who ended it early, if anyone.")
    updated_at: AwareDatetime

    @field_validator("ends_at")
    @classmethod
    def _ends_after_start(cls, value: datetime, info: Any) -> datetime:
        starts = info.data.get("starts_at")
        if starts is not None and value <= starts:
            raise ValueError("must be after starts_at")
        return value

    def expired(self, by: str, now: datetime) -> SilenceEvent:
        """This silence ended now by ``by`` (at least a second after it started, as the contract needs)."""
        return self.model_copy(
            update={"ends_at": max(now, self.starts_at + timedelta(seconds=1)), "expired_by": by, "updated_at": now}
        )

    def active(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def silences(self, alert: Alert, at: datetime) -> bool:
        return self.active(at) and all(matcher.matches(alert) for matcher in self.matchers)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


MAX_ORIGINAL_BYTES = 64 * 1024  # a dead letter's original above this is cut (see DeadLetter.to_record)
KEPT_ORIGINAL_CHARS = 4096


@dataclass
class DeadLetter:
    reason: str
    detail: str
    raw: Any

    def to_record(self, **source: Any) -> dict[str, Any]:
        """The dead-letter record; an original over ``MAX_ORIGINAL_BYTES`` is cut to its first
        ``KEPT_ORIGINAL_CHARS`` characters with its full size and hash, so the record always
        fits in one message."""
        raw = self.raw
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        elif isinstance(raw, TurnEvent):
            raw = raw.model_dump(mode="json")
        encoded = (raw if isinstance(raw, str) else json.dumps(raw, default=str)).encode("utf-8", errors="replace")
        if len(encoded) > MAX_ORIGINAL_BYTES:
            raw = {
                "truncated": encoded[:KEPT_ORIGINAL_CHARS].decode("utf-8", errors="ignore"),
                "bytes": len(encoded),
                "sha256": hashlib.sha256(encoded).hexdigest(),
            }
        return {"reason": self.reason, "detail": self.detail, "original": raw, "source": source}
