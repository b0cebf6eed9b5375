import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.contracts import Alert, parse_turn
from streams.errors import InvalidTurn
from streams.tooling.schemas import alert_schema, rendered, turn_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def event(**overrides):
    base = {
        "event_id": "e-1",
        "conversation_id": "c-1",
        "turn_index": 0,
        "role": "patient",
        "text": "I feel tired.",
        "ts": "2026-01-01T10:00:00Z",
        "meta": {"locale": "en"},
    }
    base.update(overrides)
    return base


def test_valid_event_round_trips():
    parsed = parse_turn(json.dumps(event()).encode())
    assert parsed.ts == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_turn(parsed.to_json()) == parsed


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"role": "doctor"}, "role"),
        ({"turn_index": -1}, "turn_index"),
        ({"turn_index": "three"}, "turn_index"),
        ({"ts": "yesterday"}, "ts"),
        ({"ts": "2026-01-01T10:00:00"}, "ts"),  # no offset: ambiguous
        ({"conversation_id": ""}, "conversation_id"),
        ({"conversation_id": "has spaces"}, "conversation_id"),
        ({"text": None}, "text"),
        ({"meta": []}, "meta"),
        ({"turn_index": "1"}, "turn_index"),
        ({"turn_index": True}, "turn_index"),
        ({"turn_index": 10**12}, "turn_index"),
        ({"ts": 12345}, "ts"),
        ({"meta": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}}}, "meta"),
        ({"meta": {"blob": "x" * 40_000}}, "meta"),
    ],
)
def test_invalid_events_name_the_offending_field(overrides, field):
    with pytest.raises(InvalidTurn) as info:
        parse_turn(event(**overrides))
    assert info.value.reason == "schema"
    assert info.value.detail.startswith(field)


def test_missing_field_is_named():
    raw = event()
    del raw["event_id"]
    with pytest.raises(InvalidTurn, match="event_id: Field required"):
        parse_turn(raw)


def test_oversized_text_is_rejected_without_quoting_it():
    secret = "x" * 20000
    with pytest.raises(InvalidTurn) as info:
        parse_turn(event(text=secret), max_text_bytes=16 * 1024)
    assert info.value.reason == "text_too_large"
    assert "x" * 20 not in str(info.value)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b'"a string"'])
def test_non_objects_are_invalid_json(raw):
    with pytest.raises(InvalidTurn) as info:
        parse_turn(raw)
    assert info.value.reason == "invalid_json"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.dictionaries(st.sampled_from(list(event())), st.none() | st.integers() | st.text(max_size=30)),
    )
)
def test_parse_turn_never_raises_anything_but_invalid_turn(raw):
    try:
        parse_turn(raw)
    except InvalidTurn as exc:
        assert exc.reason in {"invalid_json", "schema", "text_too_large"}


def test_events_validate_against_the_published_schema():
    jsonschema.validate(json.loads(parse_turn(event()).to_json()), turn_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(event(role="doctor"), turn_schema())


def test_alerts_validate_against_the_published_schema():
    alert = Alert(
        alert_id="a",
        conversation_id="c",
        detector="therapist",
        rule="therapist.malformed",
        severity="high",
        turns=[3],
        evidence=[{"turn_index": 3, "role": "therapist", "quote": "", "why": "empty"}],
        score=1.0,
        summary="s",
        suggested_action="a",
        created_at=datetime.now(UTC),
        detector_version="v",
    )
    jsonschema.validate(json.loads(alert.to_json()), alert_schema())


@pytest.mark.parametrize("name", sorted(rendered()))
def test_committed_schemas_match_the_code(name):
    committed = (SCHEMAS / name).read_text()
    assert committed == rendered()[name], f"schemas/{name} drifted from the code: run `make schemas`"


@pytest.mark.parametrize(
    "raw, field",
    [
        (
            b'{"event_id": "e", "conversation_id": "c", "turn_index": 0, "role": "patient", "text": "hi \\udc80", "ts": "2026-01-01T00:00:00Z"}',
            "text",
        ),
        (
            b'{"event_id": "e", "conversation_id": "\\ud800", "turn_index": 0, "role": "patient", "text": "hi", "ts": "2026-01-01T00:00:00Z"}',
            "conversation_id",
        ),
        (
            b'{"event_id": "e", "conversation_id": "c", "turn_index": 0, "role": "patient", "text": "hi", "ts": "2026-01-01T00:00:00Z", "meta": {"a": ["\\ud800"]}}',
            "meta.a[0]",
        ),
    ],
)
def test_lone_surrogates_are_rejected_naming_the_field(raw, field):
    with pytest.raises(InvalidTurn) as caught:
        parse_turn(raw)
    assert caught.value.reason == "schema"
    assert caught.value.detail.startswith(f"{field}: not valid Unicode")


def test_unknown_top_level_fields_are_ignored_and_reported():
    parsed = parse_turn(json.dumps(event(producer_build="2026.11", trace={"id": "x"})).encode())
    assert parsed.unknown_fields == ("producer_build", "trace")
    assert "producer_build" not in parsed.model_dump()
    assert parse_turn(json.dumps(event()).encode()).unknown_fields == ()


@pytest.mark.parametrize("version", [2, 0, "1", True, None, 1.0])
def test_an_unsupported_schema_version_is_refused_with_its_own_reason(version):
    with pytest.raises(InvalidTurn) as raised:
        parse_turn(json.dumps(event(schema_version=version)).encode())
    assert raised.value.reason == "schema_version"
    assert "schema_version" in raised.value.detail


def test_schema_version_1_is_read():
    assert parse_turn(json.dumps(event(schema_version=1)).encode()).schema_version == 1
