"""Values several test modules build alike."""

import uuid
from datetime import UTC, datetime

NOW = datetime(2026, 5, 1, tzinfo=UTC)  # a fixed clock for pipelines under test


def turn(index, role="patient", text="I am fine.", conversation="c1", event_id=None, ts="2026-01-01T00:00:00Z"):
    """A valid turn event as it arrives on the turns topic (JSON field values)."""
    return {
        "event_id": event_id or f"{conversation}:{index}",
        "conversation_id": conversation,
        "turn_index": index,
        "role": role,
        "text": text,
        "ts": ts,
    }


def alert_record(
    conversation: str,
    rule: str,
    severity: str,
    alert_id: str | None = None,
    quote: str = "a short quote",
    turn_index: int = 3,
    role: str = "patient",
) -> dict:
    """An Alert as the monitor publishes it (JSON field values), created now."""
    return {
        "alert_id": alert_id or f"alert-{uuid.uuid4().hex[:10]}",
        "conversation_id": conversation,
        "detector": rule.split(".")[0],
        "rule": rule,
        "severity": severity,
        "turns": [turn_index],
        "evidence": [{"turn_index": turn_index, "role": role, "quote": quote, "why": "test"}],
        "score": 0.9,
        "taxonomy": [],
        "summary": f"test {rule}",
        "suggested_action": "Review now.",
        "created_at": datetime.now(UTC).isoformat(),
        "detector_version": "test/1",
    }


# A valid Alert as it travels on the alerts topic (JSON field values).
ALERT_FIELDS = {
    "alert_id": "abc123",
    "conversation_id": "conv-9",
    "detector": "crisis",
    "rule": "crisis.active_ideation",
    "severity": "critical",
    "turns": [8],
    "score": 0.7,
    "taxonomy": ["kl-000205"],
    "evidence": [{"turn_index": 8, "role": "patient", "quote": "short quote", "why": "active ideation"}],
    "summary": "Patient turn 8: active suicidal thoughts.",
    "suggested_action": "Review now.",
    "created_at": "2026-01-01T00:00:00+00:00",
    "detector_version": "crisis/1.0",
}
