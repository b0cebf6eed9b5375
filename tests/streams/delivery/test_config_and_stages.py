import json
import random

import pytest

from streams.contracts import Alert
from streams.delivery.config import Redaction, load_delivery_config
from streams.delivery.redact import Redactor
from streams.delivery.stages import DeliveryJob, backoff_seconds, cooldown_decision
from streams.errors import ConfigError
from tests.factories import ALERT_FIELDS

GOOD = """
cooldown_seconds: 60
receivers:
  - {name: hook, kind: webhook, url: "http://127.0.0.1:1/h", secret: {env: TW_TEST_SECRET}}
  - {name: pager, kind: pagerduty, routing_key: {env: TW_TEST_PD}}
  - {name: chat, kind: slack, webhook_url: {env: TW_TEST_SLACK}}
routes:
  - match: {detectors: [crisis], min_severity: critical}
    receivers: [pager, hook]
  - match: {rules: ["therapist.*"], min_severity: high}
    receivers: [chat]
    continue: true
  - match: {min_severity: warning}
    receivers: [hook]
"""


@pytest.fixture
def secrets(monkeypatch):
    for name in ("TW_TEST_SECRET", "TW_TEST_PD", "TW_TEST_SLACK"):
        monkeypatch.setenv(name, f"value-of-{name}")


def write(tmp_path, text):
    path = tmp_path / "delivery.yaml"
    path.write_text(text)
    return path


def test_routing_first_match_wins_unless_continue(tmp_path, secrets):
    config = load_delivery_config(write(tmp_path, GOOD))
    assert config.route("crisis", "crisis.active_ideation", "critical") == ["pager", "hook"]
    assert config.route("therapist", "therapist.claims_human", "high") == ["chat", "hook"]
    assert config.route("therapist", "therapist.ai_feelings", "info") == []
    assert config.route("loop", "loop.cycle", "warning") == ["hook"]


def test_secrets_resolve_and_never_show(tmp_path, secrets):
    config = load_delivery_config(write(tmp_path, GOOD))
    assert config.secrets()["hook"].get_secret_value() == "value-of-TW_TEST_SECRET"
    assert "value-of" not in repr(config) and "value-of" not in str(config.secrets())


@pytest.mark.parametrize(
    "text, needle",
    [
        (GOOD.replace("receivers: [chat]", "receivers: [chatt]"), "routes[1].receivers[0]: unknown receiver 'chatt'"),
        (GOOD.replace('url: "http://127.0.0.1:1/h"', 'url: "ftp://x"'), "receivers[0].url"),
        (GOOD.replace("min_severity: critical", "min_severity: urgent"), "routes[0].match.min_severity"),
        (GOOD.replace("cooldown_seconds: 60", "cooldown_seconds: -1"), "cooldown_seconds"),
        (
            GOOD.replace("{env: TW_TEST_PD}", "{env: TW_TEST_MISSING}"),
            "receivers[1].routing_key: environment variable TW_TEST_MISSING is not set",
        ),
        (GOOD + "\nsurprise: 1\n", "surprise"),
        (GOOD.replace("kind: slack", "kind: carrier-pigeon"), "receivers[2]"),
    ],
)
def test_bad_config_names_the_key(tmp_path, secrets, text, needle):
    with pytest.raises(ConfigError) as info:
        load_delivery_config(write(tmp_path, text))
    assert needle in str(info.value)


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    delays = [backoff_seconds(n, 1.0, 30.0, rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        step = min(30.0, 2 ** (n - 1))
        assert step / 2 <= delay <= step
    assert len({round(backoff_seconds(3, 1.0, 30.0, rng), 6) for _ in range(20)}) > 1


def test_cooldown_suppresses_repeats_and_lets_a_higher_severity_through():
    go, entry = cooldown_decision(None, "a1", "warning", now=0, window=60)
    assert go
    assert cooldown_decision(entry, "a2", "warning", now=10, window=60) == (False, None)
    assert cooldown_decision(entry, "a2", "info", now=10, window=60) == (False, None)
    go, higher = cooldown_decision(entry, "a2", "high", now=10, window=60)
    assert go and higher["rank"] == 2
    assert cooldown_decision(entry, "a3", "warning", now=61, window=60)[0]
    assert cooldown_decision(entry, "a1", "warning", now=10, window=60)[0], "the same alert again is not a repeat"


def test_redaction_and_excerpt_length():
    redactor = Redactor(Redaction(patterns=[r"\bNHS ?\d{10}\b"]), excerpt_chars=40)
    alert = Alert.model_validate(
        {
            **ALERT_FIELDS,
            "summary": "Patient turn 3: call me on +44 7700 900123",
            "evidence": [
                {
                    "turn_index": 3,
                    "role": "patient",
                    "quote": "mail me at sam.r@example.org or NHS 9434765919, I really need someone to talk to",
                    "why": "x",
                }
            ],
        }
    )
    out = redactor.alert(alert)
    quote = out.evidence[0].quote
    assert "example.org" not in quote and "9434765919" not in quote and len(quote) <= 40
    assert "7700" not in out.summary
    assert alert.evidence[0].quote.startswith("mail me"), "the original is not modified"


def test_a_delivery_job_round_trips_and_an_unreadable_one_raises():
    job = DeliveryJob(Alert.model_validate(ALERT_FIELDS), "oncall", attempt=3, not_before=12.5, last_error="HTTP 503")
    assert DeliveryJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job
    for broken in ([], {"receiver": "oncall"}, {**job.to_dict(), "alert": {"alert_id": "x"}}):
        with pytest.raises((ValueError, KeyError)):
            DeliveryJob.from_dict(broken)


def test_the_shipped_example_config_is_valid(monkeypatch, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "deploy" / "delivery.example.yaml"
    secret_file = tmp_path / "slack"
    secret_file.write_text("xoxb-0000-example\n")
    monkeypatch.setenv("TURNWATCH_PAGERDUTY_ROUTING_KEY", "rk")
    monkeypatch.setenv("TURNWATCH_PAGERDUTY_CLINICAL_LEAD_KEY", "rk2")
    monkeypatch.setenv("TURNWATCH_WEBHOOK_SECRET", "s")
    text = example.read_text().replace("/run/secrets/slack-safety-bot-token", str(secret_file))
    config = load_delivery_config(write(tmp_path, text))
    assert config.route("crisis", "crisis.intent_or_plan", "critical") == ["safety-pager", "review-queue"]
    assert config.route("therapist", "therapist.harsh_or_shaming", "high") == ["safety-slack", "review-queue"]
    assert [step.receivers for step in config.escalations[0].steps] == [["safety-slack"], ["head-of-clinical"]]
    assert len(config.inhibit_rules) == 1
    assert config.route("therapist", "therapist.ai_feelings", "info") == []


def test_routes_naming_an_unknown_detector_or_rule_fail_at_start_up_with_the_key_named(tmp_path, secrets):
    from streams.delivery.config import registry_rules

    text = GOOD.replace("detectors: [crisis]", "detectors: [crisiss]").replace('"therapist.*"', '"therapist.harsh"')
    with pytest.raises(ConfigError) as raised:
        load_delivery_config(write(tmp_path, text), registry_rules())
    message = str(raised.value)
    assert "routes[0].match.detectors[0]: unknown detector 'crisiss' (did you mean 'crisis'?)" in message
    assert "routes[1].match.rules[0]: 'therapist.harsh' matches no rule" in message
    assert load_delivery_config(write(tmp_path, GOOD), registry_rules()).routes  # the real names pass


def test_every_missing_secret_is_reported_at_once(tmp_path, monkeypatch):
    for name in ("TW_TEST_SECRET", "TW_TEST_PD", "TW_TEST_SLACK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as raised:
        load_delivery_config(write(tmp_path, GOOD))
    assert all(name in str(raised.value) for name in ("TW_TEST_SECRET", "TW_TEST_PD", "TW_TEST_SLACK"))


def test_routes_test_prints_the_receivers_an_alert_reaches(tmp_path, secrets, capsys):
    from streams.cli import main

    path = str(write(tmp_path, GOOD))
    assert (
        main(
            [
                "routes",
                "test",
                "--detector",
                "therapist",
                "--rule",
                "therapist.missed_crisis",
                "--severity",
                "critical",
                "--delivery",
                path,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "routes[1] matches (continue)" in out and "routes[2] matches" in out
    assert "-> chat (slack)" in out and "-> hook (webhook)" in out and "pager" not in out
    assert (
        main(
            [
                "routes",
                "test",
                "--detector",
                "crisis",
                "--rule",
                "crisis.methd",
                "--severity",
                "critical",
                "--delivery",
                path,
            ]
        )
        == 2
    )
    assert "did you mean 'crisis.method'" in capsys.readouterr().err


def test_check_config_reports_every_problem_without_loading_models(tmp_path, monkeypatch, capsys):
    from streams.cli import main

    monkeypatch.setenv("TURNWATCH_CRISIS_HEAD", str(tmp_path / "missing.npz"))
    bad = GOOD.replace("detectors: [crisis]", "detectors: [crisiss]")
    assert main(["check-config", "--delivery", str(write(tmp_path, bad))]) == 1
    err = capsys.readouterr().err
    assert "crisis_head" in err and "unknown detector 'crisiss'" in err and "TW_TEST_SECRET" in err


def test_a_misspelt_delivery_key_suggests_the_closest_one(tmp_path, secrets):
    config = tmp_path / "delivery.yaml"
    config.write_text(
        "receivers:\n"
        "  - {name: a, kind: webhook, url: 'http://x', secret: {env: TW_TEST_SECRET}, timout_seconds: 3}\n"
        "routes:\n"
        "  - receivers: [a]\n"
        "    contineu: true\n"
    )
    with pytest.raises(ConfigError) as error:
        load_delivery_config(config)
    assert "receivers[0].timout_seconds: not a delivery config key (did you mean 'timeout_seconds'?)" in str(
        error.value
    )
    assert "routes[0].contineu: not a delivery config key (did you mean 'continue'?)" in str(error.value)
