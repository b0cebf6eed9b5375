"""Values several test modules build alike."""

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
