from datetime import datetime, timezone

from detectors.features import TurnFeatures
from detectors.findings import Evidence, Finding, Severity
from detectors.registry import discover, select
from detectors.state import Arrival
from streams.ingest.files import Record
from streams.pipeline import Pipeline, alert_id
from streams.scan import scan_records

NOW = datetime(2026, 5, 1, tzinfo=timezone.utc)


def turn(index, role="patient", text="I am fine.", conversation="c1", event_id=None):
    return {"event_id": event_id or f"{conversation}:{index}", "conversation_id": conversation, "turn_index": index,
            "role": role, "text": text, "ts": "2026-01-01T00:00:00Z"}


class Escalating:
    """Test detector: severity grows with the number of patient turns, one episode opened at turn 0."""

    name, version, rules = "loop", "test/1", ("loop.patient_refrain",)

    def detect(self, state, new):
        patients = [t for t in state.window if t.role == "patient"]
        severity = Severity(min(len(patients), 4))
        return [Finding("loop", "loop.patient_refrain", severity, 0, (new.index,),
                        (Evidence(new.index, new.role, "q", "why"),), "s", "a")]


def run(pipeline, raws, states=None):
    states = {} if states is None else states
    return [pipeline.step(states, item) for item in pipeline.prepare(raws)], states


def test_duplicates_are_ignored_and_not_detected_twice():
    pipeline = Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW)
    raws = [turn(0), turn(1, "therapist", ""), turn(1, "therapist", "", event_id="other")]
    results, states = run(pipeline, raws)
    assert [r.arrival for r in results] == [Arrival.NEXT, Arrival.NEXT, Arrival.DUPLICATE]
    assert [len(r.alerts) for r in results] == [0, 1, 0]
    assert states["c1"]["turns_processed"] == 2


def test_gap_is_processed_and_a_late_turn_goes_to_the_dead_letters():
    pipeline = Pipeline([], clock=lambda: NOW)
    results, states = run(pipeline, [turn(0), turn(3), turn(1), turn(1), turn(4)])
    assert [r.arrival for r in results] == [Arrival.NEXT, Arrival.GAP, Arrival.LATE, Arrival.DUPLICATE, Arrival.NEXT]
    late = results[2]
    assert late.dead_letter.reason == "out_of_order" and "turn_index: 1" in late.dead_letter.detail
    assert states["c1"]["missing"] == [2]


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
    assert len({alert_id("c1", "therapist.malformed", 3), alert_id("c2", "therapist.malformed", 3),
                alert_id("c1", "therapist.malformed", 4), alert_id("c1", "loop.patient_refrain", 3)}) == 4


def test_state_window_is_bounded():
    pipeline = Pipeline([], window_size=5, clock=lambda: NOW)
    _, states = run(pipeline, [turn(i) for i in range(40)])
    assert len(states["c1"]["window"]) == 5 and states["c1"]["last_index"] == 39


def test_system_turns_are_kept_but_not_judged():
    pipeline = Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW)
    results, states = run(pipeline, [turn(0, "system", "")])
    assert results[0].processed and not results[0].alerts and not results[0].detector_seconds


def test_scan_uses_the_same_steps_as_the_agent():
    import json

    pipeline = Pipeline(select(discover(), None), clock=lambda: NOW)
    raws = [turn(0), turn(1, "therapist", "[Answer missing]"), turn(1, "therapist", "dup")]
    records = [Record(key="c1", value=json.dumps(r).encode(), ts=None) for r in raws]
    scanned = list(scan_records(records, pipeline, batch_size=2))
    direct, _ = run(Pipeline(select(discover(), None), clock=lambda: NOW), raws)
    assert [(r.arrival, [a.model_dump() for a in r.alerts]) for r in scanned] == \
        [(r.arrival, [a.model_dump() for a in r.alerts]) for r in direct]


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
    states = {}
    for item in pipeline.prepare([turn(0, text="a"), turn(1, text="b"), turn(1, text="b-again")], states):
        pipeline.step(states, item)
    for item in pipeline.prepare([turn(1, text="b-redelivered"), turn(2, text="c")], states):
        pipeline.step(states, item)
    assert extractor.seen == ["a", "b", "c"]


def test_building_the_pipeline_scan_and_eval_do_not_import_faust():
    import subprocess
    import sys

    code = ("import sys, streams.build, streams.scan, streams.realdata, streams.evaluate, streams.cli;"
            "print(sorted(m for m in ('faust', 'aiokafka', 'kafka') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
