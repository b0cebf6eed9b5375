import json

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.features import TurnFeatures
from detectors.findings import Evidence, Finding, Severity
from detectors.registry import discover, select
from detectors.state import Arrival
from streams.ingest.files import Record
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.pipeline import Pipeline, alert_id
from streams.tooling.scan import scan_records
from tests.factories import NOW, turn


class Escalating:
    """Test detector: severity grows with the number of patient turns, one episode opened at turn 0."""

    name, version, rules = "loop", "test/1", ("loop.patient_refrain",)

    def detect(self, state, new):
        patients = [t for t in state.window if t.role == "patient"]
        severity = Severity(min(len(patients), 4))
        return [
            Finding(
                "loop",
                "loop.patient_refrain",
                severity,
                0,
                (new.index,),
                (Evidence(new.index, new.role, "q", "why"),),
                "s",
                "a",
            )
        ]


def run(pipeline, raws, states=None):
    states = ConversationStore() if states is None else states
    return [pipeline.step(states, item) for item in pipeline.prepare(raws)], states


def test_duplicates_are_ignored_and_not_detected_twice():
    pipeline = Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW)
    raws = [turn(0), turn(1, "therapist", ""), turn(1, "therapist", "", event_id="other")]
    results, states = run(pipeline, raws)
    assert [r.arrival for r in results] == [Arrival.NEXT, Arrival.NEXT, Arrival.DUPLICATE]
    assert [len(r.alerts) for r in results] == [0, 1, 0]
    assert states.head("c1")["turns_processed"] == 2


def test_gap_is_processed_and_a_late_turn_goes_to_the_dead_letters():
    pipeline = Pipeline([], clock=lambda: NOW)
    results, states = run(pipeline, [turn(0), turn(3), turn(1), turn(1), turn(4)])
    assert [r.arrival for r in results] == [Arrival.NEXT, Arrival.GAP, Arrival.LATE, Arrival.DUPLICATE, Arrival.NEXT]
    late = results[2]
    assert late.dead_letter.reason == "out_of_order" and "turn_index: 1" in late.dead_letter.detail
    assert states.head("c1")["missing"] == [2]


def test_invalid_events_become_dead_letters_with_reasons():
    pipeline = Pipeline([], clock=lambda: NOW)
    results, _ = run(pipeline, [b"{nope", turn(0, role="robot"), turn(0, text="x" * 20000)])
    assert [r.dead_letter.reason for r in results] == ["invalid_json", "schema", "text_too_large"]
    assert all(not r.processed for r in results)


def test_an_episode_alerts_once_and_again_only_at_higher_severity():
    pipeline = Pipeline([Escalating()], clock=lambda: NOW)
    raws = [turn(0), turn(1, "therapist"), turn(2), turn(3), turn(4), turn(5), turn(6)]
    results, _ = run(pipeline, raws)
    severities = [a.severity for r in results for a in r.alerts]
    assert severities == ["info", "warning", "high", "critical"]
    ids = {a.alert_id for r in results for a in r.alerts}
    assert ids == {alert_id("c1", "loop.patient_refrain", 0)}


def test_alert_ids_are_stable_and_distinct():
    assert alert_id("c1", "therapist.malformed", 3) == alert_id("c1", "therapist.malformed", 3)
    assert (
        len(
            {
                alert_id("c1", "therapist.malformed", 3),
                alert_id("c2", "therapist.malformed", 3),
                alert_id("c1", "therapist.malformed", 4),
                alert_id("c1", "loop.patient_refrain", 3),
            }
        )
        == 4
    )


def test_state_window_is_bounded():
    pipeline = Pipeline([], window_size=5, clock=lambda: NOW)
    _, states = run(pipeline, [turn(i) for i in range(40)])
    assert len(states.head("c1")["window"]) == 5 and states.head("c1")["last_index"] == 39
    assert len(states.turns) == 5  # the records of turns that left the window are deleted


def test_system_turns_are_kept_but_not_judged():
    pipeline = Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW)
    results, _states = run(pipeline, [turn(0, "system", "")])
    assert results[0].processed and not results[0].alerts and not results[0].detector_seconds


def test_scan_uses_the_same_steps_as_the_agent():
    import json

    pipeline = Pipeline(select(discover(), None), clock=lambda: NOW)
    raws = [turn(0), turn(1, "therapist", "[Answer missing]"), turn(1, "therapist", "dup")]
    records = [Record(key="c1", value=json.dumps(r).encode(), ts=None) for r in raws]
    scanned = list(scan_records(records, pipeline, batch_size=2))
    direct, _ = run(Pipeline(select(discover(), None), clock=lambda: NOW), raws)
    assert [(r.arrival, [a.model_dump() for a in r.alerts]) for r in scanned] == [
        (r.arrival, [a.model_dump() for a in r.alerts]) for r in direct
    ]


class CountingExtractor:
    name = "count"

    def __init__(self):
        self.seen = []

    def extract(self, texts, roles, metas):
        self.seen.extend(texts)
        return [TurnFeatures() for _ in texts]


def test_redelivered_turns_are_not_encoded_again():
    extractor = CountingExtractor()
    pipeline = Pipeline([], extractors=[extractor], clock=lambda: NOW)
    states = ConversationStore()
    for item in pipeline.prepare([turn(0, text="a"), turn(1, text="b"), turn(1, text="b-again")], states):
        pipeline.step(states, item)
    for item in pipeline.prepare([turn(1, text="b-redelivered"), turn(2, text="c")], states):
        pipeline.step(states, item)
    assert extractor.seen == ["a", "b", "c"]


def test_building_the_pipeline_scan_and_eval_do_not_import_faust():
    import subprocess
    import sys

    code = (
        "import sys, streams.monitor.build, streams.tooling.scan, streams.tooling.realdata, streams.tooling.evaluate, streams.cli;"
        "print(sorted(m for m in ('faust', 'aiokafka', 'kafka') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- poison isolation: one bad event never takes others with it -------------------------------


class BreaksOn:
    """Test extractor that fails whenever a batch contains ``poison`` (like a tokenizer bug)."""

    name = "breaks-on"

    def __init__(self, poison):
        self.poison = poison
        self.calls = 0

    def extract(self, texts, roles, metas):
        self.calls += 1
        if self.poison in texts:
            raise RuntimeError("extractor bug")
        return [TurnFeatures() for _ in texts]


def test_an_event_that_breaks_the_extractor_is_dead_lettered_alone():
    extractor = BreaksOn("poison")
    pipeline = Pipeline([], extractors=[extractor], clock=lambda: NOW)
    raws = [turn(0), turn(1, text="poison"), turn(2), turn(0, conversation="c2")]
    results, states = run(pipeline, raws)
    assert [r.dead_letter.reason if r.dead_letter else None for r in results] == [None, "processing_error", None, None]
    assert results[1].dead_letter.to_record()["original"]["text"] == "poison"
    assert states.head("c1")["last_index"] == 2 and "c2" in states


def test_a_lone_surrogate_is_a_schema_dead_letter_and_the_rest_of_the_batch_is_processed():
    pipeline = Pipeline([], clock=lambda: NOW)
    bad = b'{"event_id": "x", "conversation_id": "c1", "turn_index": 1, "role": "patient", "text": "\\ud800", "ts": "2026-01-01T00:00:00Z"}'
    results, _states = run(pipeline, [turn(0), bad, turn(1, event_id="good-1")])
    assert results[1].dead_letter.reason == "schema" and results[1].dead_letter.detail.startswith("text:")
    assert results[0].dead_letter is None and results[2].dead_letter is None
    record = results[1].dead_letter.to_record(topic="t", partition=0, offset=5)
    json.dumps(record).encode()  # the record itself publishes


def test_a_deeply_nested_message_costs_itself_only_and_the_crisis_beside_it_still_alerts(full_pipeline):
    pipeline = full_pipeline
    nested = [b"[" * 5_000 + b"]" * 5_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000]
    crisis = turn(1, text="I have the pills counted out and I am going to take them all tonight.")
    results, states = run(pipeline, [turn(0), nested[0], crisis, nested[1], turn(2)])
    assert [r.dead_letter.reason if r.dead_letter else None for r in results] == [
        None,
        "invalid_json",
        None,
        "invalid_json",
        None,
    ]
    assert results[1].dead_letter.detail == "nested too deeply to read"
    assert "critical" in [a.severity for a in results[2].alerts]
    assert states.head("c1")["last_index"] == 2
    json.dumps(results[1].dead_letter.to_record()).encode()


def test_scan_reads_the_lines_around_a_deeply_nested_one(tmp_path, full_pipeline):
    from streams.ingest.files import read_records

    crisis = turn(1, text="I have the pills counted out and I am going to take them all tonight.", conversation="c9")
    lines = [json.dumps(turn(0)).encode(), b"[" * 5_000 + b"]" * 5_000, json.dumps(crisis).encode()]
    path = tmp_path / "turns.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records = list(read_records([path]))
    assert len(records) == 3
    results = list(scan_records(records, full_pipeline))
    assert [r.dead_letter.reason for r in results if r.dead_letter] == ["invalid_json"]
    assert "critical" in [a.severity for r in results for a in r.alerts]


def test_a_huge_event_gets_a_bounded_dead_letter():
    pipeline = Pipeline([], max_text_bytes=16_000, clock=lambda: NOW)
    huge = json.dumps(turn(1, text="x" * 1_000_000)).encode()
    results, _ = run(pipeline, [turn(0), huge, turn(2)])
    letter = results[1].dead_letter
    assert letter.reason == "text_too_large"
    record = json.dumps(letter.to_record()).encode()
    assert len(record) < 16_000
    original = letter.to_record()["original"]
    assert original["bytes"] == len(huge) and len(original["sha256"]) == 64
    assert [r.dead_letter for r in (results[0], results[2])] == [None, None]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
event_shapes = st.fixed_dictionaries(
    {},
    optional={
        "event_id": json_values,
        "conversation_id": json_values | st.just("c1"),
        "turn_index": json_values | st.integers(0, 5),
        "role": json_values | st.sampled_from(["patient", "therapist", "system"]),
        "text": json_values | st.text(),
        "ts": json_values | st.just("2026-01-01T00:00:00Z"),
        "meta": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(max_size=200) | event_shapes.map(lambda d: json.dumps(d).encode()) | event_shapes, max_size=8)
)
def test_any_input_is_processed_or_dead_lettered_never_raised(raws):
    pipeline = Pipeline(select(discover(), ["therapist", "loop"]), clock=lambda: NOW)
    states = ConversationStore()
    results = [pipeline.step(states, item) for item in pipeline.prepare(raws, states)]
    assert len(results) == len(raws)
    for result in results:
        if result.dead_letter is not None:
            assert len(json.dumps(result.dead_letter.to_record()).encode()) < 70_000
        else:
            assert result.event is not None


def test_an_event_from_a_newer_producer_is_processed_and_its_unknown_fields_counted():
    from streams import metrics
    from streams.monitor.pipeline import record_metrics

    pipeline = Pipeline([], clock=lambda: NOW)
    raw = json.dumps(
        {
            "event_id": "e-9",
            "conversation_id": "c-9",
            "turn_index": 0,
            "role": "patient",
            "text": "hello",
            "ts": "2026-01-01T10:00:00Z",
            "producer_region": "eu",
            "trace_id": "t-1",
        }
    ).encode()
    before = metrics.UNKNOWN_FIELDS._value.get()
    result = pipeline.step(ConversationStore(), pipeline.prepare([raw])[0])
    record_metrics(result)
    assert result.processed and result.dead_letter is None
    assert metrics.UNKNOWN_FIELDS._value.get() - before == 2
