import pytest

from streams.contracts import Alert
from streams.delivery.config import load_delivery_config, registry_rules
from streams.delivery.inhibit import InhibitRule, inhibiting_rule, source_keys, source_record
from streams.errors import ConfigError
from tests.factories import ALERT_FIELDS

CRITICAL = Alert.model_validate(ALERT_FIELDS)  # crisis, critical, conv-9
RULE = InhibitRule.model_validate(
    {"source": {"min_severity": "critical"}, "target": {"max_severity": "high"}, "window_seconds": 3600}
)


def alert(**changes) -> Alert:
    return CRITICAL.model_copy(update=changes)


def sent(rules, *alerts, at=1000.0) -> dict:
    """The inhibitions table after these alerts were sent out."""
    table: dict = {}
    for item in alerts:
        for key in source_keys(rules, item):
            table[key] = source_record(table.get(key), item, at)
    return table


def test_a_critical_page_mutes_lower_alerts_of_its_conversation_within_the_window():
    table = sent([RULE], CRITICAL)
    target = alert(alert_id="t1", rule="therapist.dismisses", detector="therapist", severity="high")
    assert inhibiting_rule([RULE], table.get, target, now=1000.0 + 3599) == 0
    assert inhibiting_rule([RULE], table.get, target, now=1000.0 + 3600) is None, "the window has passed"
    elsewhere = target.model_copy(update={"conversation_id": "conv-other"})
    assert inhibiting_rule([RULE], table.get, elsewhere, now=1001.0) is None, "equal: conversation_id"
    another_critical = alert(alert_id="c2", rule="crisis.method")
    assert inhibiting_rule([RULE], table.get, another_critical, now=1001.0) is None, "not a target"


def test_nothing_is_muted_without_a_source_and_an_alert_never_mutes_itself():
    target = alert(alert_id="t1", severity="high")
    assert inhibiting_rule([RULE], {}.get, target, now=0) is None
    both = InhibitRule.model_validate({"source": {}, "target": {}})
    table = sent([both], target)
    assert inhibiting_rule([both], table.get, target, now=1001.0) is None
    assert inhibiting_rule([both], table.get, alert(alert_id="t2", severity="high"), now=1001.0) == 0


def test_the_same_source_seen_again_keeps_the_time_it_was_first_sent():
    first = source_record(None, CRITICAL, 10.0)
    assert source_record(first, CRITICAL, 99.0) == first
    assert source_record(first, alert(alert_id="newer"), 99.0)["at"] == 99.0


def test_equal_labels_key_the_source():
    rule = InhibitRule.model_validate(
        {"source": {"min_severity": "critical"}, "target": {}, "equal": ["conversation_id", "rule"]}
    )
    table = sent([rule], CRITICAL)
    same_rule = alert(alert_id="x", severity="high")
    other_rule = alert(alert_id="y", severity="high", rule="crisis.method")
    assert inhibiting_rule([rule], table.get, same_rule, now=1001.0) == 0
    assert inhibiting_rule([rule], table.get, other_rule, now=1001.0) is None


def test_rules_load_from_the_delivery_config_and_errors_name_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TW_TEST_PD", "rk")
    text = """
receivers:
  - {name: pager, kind: pagerduty, routing_key: {env: TW_TEST_PD}}
routes:
  - receivers: [pager]
inhibit_rules:
  - source: {detectors: [crisis], min_severity: critical}
    target: {max_severity: high}
    equal: [conversation_id]
    window_seconds: 600
"""
    path = tmp_path / "delivery.yaml"
    path.write_text(text)
    assert load_delivery_config(path, registry_rules()).inhibit_rules[0].window_seconds == 600
    for change, needle in [
        (("equal: [conversation_id]", "equal: [rule]"), "inhibit_rules[0].equal: must include conversation_id"),
        (("equal: [conversation_id]", "equal: [conversation]"), "inhibit_rules[0].equal[0]"),
        (("detectors: [crisis]", "detectors: [crysis]"), "inhibit_rules[0].source.detectors[0]: unknown detector"),
        (("target: {max_severity: high}", "target: {max_severity: high, min_severity: critical}"), "target"),
        (("window_seconds: 600", "window_secs: 600"), "did you mean 'window_seconds'?"),
    ]:
        path.write_text(text.replace(*change))
        with pytest.raises(ConfigError) as raised:
            load_delivery_config(path, registry_rules())
        assert needle in str(raised.value), str(raised.value)
