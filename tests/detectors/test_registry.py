import pytest

from detectors.registry import Detector, UnknownDetector, discover, select
from streams.monitor.conversation_store import ConversationStore


def test_discovers_the_detector_modules():
    found = discover()
    assert "therapist" in found
    assert all(isinstance(d, Detector) and d.version for d in found.values())


def test_select_names_unknown_detectors():
    with pytest.raises(UnknownDetector, match="nosuch"):
        select(discover(), ["nosuch"])
    assert [d.name for d in select(discover(), ["therapist"])] == ["therapist"]


def test_options_configure_a_detector_and_bad_ones_are_named():
    [loop] = select(discover(), ["loop"], {"loop": {"patient_run": 6}})
    assert loop.patient_run == 6
    with pytest.raises(ValueError, match="unknown loop option"):
        select(discover(), ["loop"], {"loop": {"nope": 1}})
    with pytest.raises(ValueError, match="takes no options"):
        select(discover(), None, {"distress": {"x": 1}})
    with pytest.raises(ValueError, match="crisis takes the option 'conversation'"):
        select(discover(), None, {"crisis": {"x": 1}})
    [crisis] = select(discover(), ["crisis"], {"crisis": {"conversation": False}})
    assert crisis.conversation_model is None
    with pytest.raises(UnknownDetector):
        select(discover(), None, {"nosuch": {}})


PLUGIN = '''
"""A detector that exists only in this test: it flags the word "pineapple"."""
from detectors.findings import Evidence, Finding, Severity


class PineappleDetector:
    name = "pineapple"
    version = "pineapple/0"
    rules = ("pineapple.mentioned",)

    def detect(self, state, turn):
        if "pineapple" not in turn.text.lower():
            return []
        return [Finding(self.name, "pineapple.mentioned", Severity.WARNING, turn.index, (turn.index,),
                        (Evidence(turn.index, turn.role, "pineapple", "fruit"),), "Pineapple.", "Eat it.")]


DETECTOR = PineappleDetector()
'''


def test_a_detector_defined_only_here_is_discovered_and_raises_alerts_end_to_end(tmp_path, monkeypatch):
    from detectors.registry import rule_names
    from streams import metrics
    from streams.monitor.pipeline import Pipeline, record_metrics

    package = tmp_path / "tw_plugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fruit.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover("tw_plugins")
    assert list(found) == ["pineapple"] and rule_names(found.values()) == {"pineapple.mentioned": "pineapple"}

    pipeline = Pipeline([*select(discover(), ["therapist"]), found["pineapple"]])
    events = [
        {
            "event_id": f"e{i}",
            "conversation_id": "c",
            "turn_index": i,
            "role": "patient",
            "text": text,
            "ts": "2026-01-01T00:00:00Z",
        }
        for i, text in enumerate(["I like pineapple.", "More pineapple!"])
    ]
    states = ConversationStore()
    results = [pipeline.step(states, item) for item in pipeline.prepare(events)]
    alerts = [a for r in results for a in r.alerts]
    assert [(a.detector, a.rule, a.severity, a.turns) for a in alerts] == [
        ("pineapple", "pineapple.mentioned", "warning", [0])
    ]
    before = metrics.ALERTS.labels("pineapple", "warning")._value.get()
    for result in results:
        record_metrics(result)
    assert metrics.ALERTS.labels("pineapple", "warning")._value.get() == before + 1


def test_a_finding_for_an_undeclared_rule_is_a_contract_error(tmp_path, monkeypatch):
    from streams.monitor.pipeline import DetectorContractError, Pipeline

    package = tmp_path / "tw_badplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fruit.py").write_text(
        PLUGIN.replace('rules = ("pineapple.mentioned",)', 'rules = ("pineapple.other",)')
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    pipeline = Pipeline(list(discover("tw_badplugins").values()))
    event = {
        "event_id": "e",
        "conversation_id": "c",
        "turn_index": 0,
        "role": "patient",
        "text": "pineapple",
        "ts": "2026-01-01T00:00:00Z",
    }
    (item,) = pipeline.prepare([event])
    with pytest.raises(DetectorContractError, match=r"pineapple\.mentioned"):
        pipeline.step(ConversationStore(), item)


def test_rule_names_come_from_the_registry():
    from detectors.registry import rule_names

    rules = rule_names(discover().values())
    assert {
        "crisis.possible",
        "crisis.intent_or_plan",
        "distress.escalating",
        "loop.cycle",
        "therapist.missed_crisis",
    } <= set(rules)
    assert all(rule.startswith(f"{detector}.") for rule, detector in rules.items())
