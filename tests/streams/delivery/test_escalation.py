import pytest

from streams.contracts import Alert
from streams.delivery.config import load_delivery_config, registry_rules
from streams.delivery.escalation import (
    EscalationPolicy,
    after_firing,
    due_step,
    policy_for,
    standing,
    start_clock,
    step_note,
    waited,
)
from streams.errors import ConfigError
from tests.factories import ALERT_FIELDS

ALERT = Alert.model_validate(ALERT_FIELDS)  # critical crisis.active_ideation
POLICY = EscalationPolicy.model_validate(
    {
        "match": {"min_severity": "critical"},
        "steps": [
            {"after_seconds": 300, "receivers": ["secondary"]},
            {"after_seconds": 900, "receivers": ["head"]},
        ],
    }
)

CONFIG = """
receivers:
  - {name: primary, kind: pagerduty, routing_key: {env: TW_TEST_PD}}
  - {name: oncall-secondary, kind: pagerduty, routing_key: {env: TW_TEST_PD}}
  - {name: head-of-clinical, kind: pagerduty, routing_key: {env: TW_TEST_PD}}
routes:
  - receivers: [primary]
escalations:
  - match: {detectors: [crisis], min_severity: critical}
    steps:
      - {after_seconds: 300, receivers: [oncall-secondary]}
      - {after_seconds: 900, receivers: [head-of-clinical]}
"""


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TW_TEST_PD", "rk")

    def write(text: str):
        path = tmp_path / "delivery.yaml"
        path.write_text(text)
        return path

    return write


def test_the_first_matching_policy_applies():
    high = ALERT.model_copy(update={"severity": "high"})
    other = EscalationPolicy.model_validate(
        {"match": {"rules": ["therapist.*"]}, "steps": POLICY.model_dump()["steps"]}
    )
    assert policy_for([other, POLICY], ALERT) == 1
    assert policy_for([other, POLICY], high) is None
    assert policy_for([], ALERT) is None


def test_steps_fire_in_turn_once_each_counted_from_the_first_page():
    entry = start_clock(None, ALERT, 0, now=1000.0, partition=3)
    assert entry["partition"] == 3 and entry["fired"] == 0 and standing(entry, POLICY) == "pending"
    assert due_step(entry, POLICY, 1299.0) is None
    assert due_step(entry, POLICY, 1300.0) == 0
    entry = after_firing(entry, 0)
    assert standing(entry, POLICY) == "escalated"
    assert due_step(entry, POLICY, 1899.0) is None, "step 2 counts from the start, not from step 1"
    assert due_step(entry, POLICY, 1900.0) == 1
    entry = after_firing(entry, 1)
    assert due_step(entry, POLICY, 99999.0) is None and standing(entry, POLICY) == "exhausted"
    assert after_firing(entry, 0)["fired"] == 2, "a repeated request never moves the clock back"


def test_an_alert_seen_again_keeps_its_clock_and_carries_the_newest_copy():
    first = start_clock(None, ALERT.model_copy(update={"severity": "high"}), 0, now=1000.0, partition=1)
    again = start_clock(after_firing(first, 0), ALERT, 0, now=5000.0, partition=2)
    assert again["started"] == 1000.0 and again["fired"] == 1 and again["partition"] == 1
    assert again["alert"]["severity"] == "critical"


def test_the_step_note_says_how_long_nobody_acknowledged():
    assert waited(300) == "5 min" and waited(7200) == "2 h" and waited(2) == "2 s" and waited(90) == "90 s"
    assert step_note(POLICY, 1) == "Escalated (step 2): not acknowledged within 15 min"


def test_a_policy_loads_from_the_delivery_config(config_file):
    config = load_delivery_config(config_file(CONFIG), registry_rules())
    assert config.escalations[0].steps[1].receivers == ["head-of-clinical"]


@pytest.mark.parametrize(
    "change, needle",
    [
        (
            ("receivers: [head-of-clinical]", "receivers: [head-of-clinicl]"),
            "escalations[0].steps[1].receivers[0]: unknown receiver 'head-of-clinicl' (did you mean 'head-of-clinical'?)",
        ),
        (("after_seconds: 900", "after_seconds: 200"), "escalations[0].steps[1].after_seconds: 200 must be later"),
        (("after_seconds: 300", "after_seconds: 0"), "escalations[0].steps[0].after_seconds"),
        (("detectors: [crisis]", "detectors: [crisiss]"), "escalations[0].match.detectors[0]: unknown detector"),
        (("    steps:", "    stpes:"), "escalations[0].stpes: not a delivery config key (did you mean 'steps'?)"),
        (("min_severity: critical}", "min_severity: urgent}"), "escalations[0].match.min_severity"),
    ],
)
def test_a_bad_policy_names_the_key(config_file, change, needle):
    with pytest.raises(ConfigError) as raised:
        load_delivery_config(config_file(CONFIG.replace(*change)), registry_rules())
    assert needle in str(raised.value)


def test_an_unknown_route_receiver_suggests_the_closest_name(config_file):
    text = CONFIG.replace("  - receivers: [primary]", "  - receivers: [primry]")
    with pytest.raises(ConfigError) as raised:
        load_delivery_config(config_file(text))
    assert "routes[0].receivers[0]: unknown receiver 'primry' (did you mean 'primary'?)" in str(raised.value)
