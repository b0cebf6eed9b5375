"""Escalation, inhibition and silences honoured by delivery, end to end: a real broker, a real
worker, a real HTTP server standing in for three PagerDuty services. Reviewer actions and
silences are published on their topics exactly as the console publishes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.contracts import SilenceEvent
from tests.factories import alert_record
from tests.integration.conftest import RecordingReceivers, verdict_record, wait_until

pytestmark = pytest.mark.integration

PRIMARY, SECONDARY, HEAD = "/pd/primary", "/pd/secondary", "/pd/head"
ESCALATED = "turnwatch_unacknowledged_alerts"


def config(base: str) -> str:
    return f"""
cooldown_seconds: 0
max_attempts: 60
backoff_initial_seconds: 0.2
backoff_max_seconds: 1.0
receivers:
  - {{name: primary, kind: pagerduty, routing_key: {{env: TW_TEST_PD_KEY}}, url: "{base}{PRIMARY}"}}
  - {{name: secondary, kind: pagerduty, routing_key: {{env: TW_TEST_PD_KEY}}, url: "{base}{SECONDARY}"}}
  - {{name: head, kind: pagerduty, routing_key: {{env: TW_TEST_PD_KEY}}, url: "{base}{HEAD}"}}
routes:
  - receivers: [primary]
escalations:
  - match: {{rules: [crisis.intent_or_plan], min_severity: critical}}
    steps:
      - {{after_seconds: 2, receivers: [secondary]}}
      - {{after_seconds: 4, receivers: [head]}}
  - match: {{rules: [crisis.preparatory_behaviour], min_severity: critical}}
    steps:
      - {{after_seconds: 8, receivers: [secondary]}}
inhibit_rules:
  - source: {{rules: [crisis.method], min_severity: critical}}
    target: {{detectors: [therapist]}}
    equal: [conversation_id]
    window_seconds: 3600
"""


@pytest.fixture(scope="module")
def receivers(module_harness):
    return module_harness.receivers()


@pytest.fixture(scope="module")
def stack(module_harness, receivers):
    return module_harness.delivery(config(receivers.base), {"TW_TEST_PD_KEY": "routing-key-1"})


def pages(receivers: RecordingReceivers, path: str, alert: dict, action: str = "trigger") -> list[dict]:
    return [e for e in receivers.to(path) if e["dedup_key"] == alert["alert_id"] and e["event_action"] == action]


def arrival(receivers: RecordingReceivers, path: str, alert: dict) -> float:
    return next(at for called, body, at in receivers.calls if called == path and body["dedup_key"] == alert["alert_id"])


def delivered(receivers: RecordingReceivers, alert: dict) -> bool:
    return bool(pages(receivers, PRIMARY, alert))


def test_an_alert_nobody_acknowledges_escalates_step_by_step_until_resolved(stack, receivers):
    alert = alert_record("conv-esc-1", "crisis.intent_or_plan", "critical")
    stack.publish_alert(alert)
    assert wait_until(lambda: pages(receivers, HEAD, alert))
    first, second, third = (arrival(receivers, path, alert) for path in (PRIMARY, SECONDARY, HEAD))
    # Each step waits for its time, counted from when the page went out (the page's own trip aside).
    assert second - first >= 1.0 and third - first >= 3.0
    [step] = pages(receivers, SECONDARY, alert)
    assert step["payload"]["custom_details"]["escalation"] == "Escalated (step 1): not acknowledged within 2 s"
    assert len(pages(receivers, SECONDARY, alert)) == 1 and len(pages(receivers, HEAD, alert)) == 1
    assert stack.metric('turnwatch_escalations_total{step="1"}') >= 1
    assert stack.metric('turnwatch_escalations_total{step="2"}') >= 1
    exhausted = f'{ESCALATED}{{escalation="exhausted",severity="critical"}}'
    assert wait_until(lambda: stack.metric(exhausted) == 1, timeout=30)

    # Resolved in the console: every service that was paged gets the resolution, the alert leaves the gauge.
    stack.publish("verdicts", [verdict_record(alert, "resolve", actor="dana")])
    for path in (PRIMARY, SECONDARY, HEAD):
        assert wait_until(lambda path=path: pages(receivers, path, alert, "resolve")), path
    assert wait_until(lambda: stack.metric(exhausted) == 0, timeout=30)


def test_an_acknowledged_alert_does_not_escalate(stack, receivers):
    # Both in one conversation, so one partition: when the later alert's step has fired, the
    # earlier one's, due sooner, would have fired before it.
    acked = alert_record("conv-esc-2", "crisis.preparatory_behaviour", "critical")
    control = alert_record("conv-esc-2", "crisis.preparatory_behaviour", "critical")
    stack.publish_alert(acked)
    assert wait_until(lambda: delivered(receivers, acked))
    stack.publish("verdicts", [verdict_record(acked, "acknowledge", actor="erin")])
    assert wait_until(lambda: pages(receivers, PRIMARY, acked, "acknowledge"))
    stack.publish_alert(control)
    assert wait_until(lambda: pages(receivers, SECONDARY, control), timeout=120)
    assert pages(receivers, SECONDARY, acked) == [], "the acknowledgement stopped its escalation"


def test_a_critical_page_inhibits_the_therapist_alerts_of_its_conversation(stack, receivers):
    source = alert_record("conv-inh-1", "crisis.method", "critical")
    muted = alert_record("conv-inh-1", "therapist.dismisses", "high")
    not_a_target = alert_record("conv-inh-1", "loop.cycle", "warning")
    elsewhere = alert_record("conv-inh-2", "therapist.dismisses", "high")
    stack.publish_alert(source)
    assert wait_until(lambda: delivered(receivers, source))
    for alert in (muted, not_a_target, elsewhere):
        stack.publish_alert(alert)
    # The conversation's alerts are handled in order: once the later one is delivered, the muted one was decided.
    assert wait_until(lambda: delivered(receivers, not_a_target) and delivered(receivers, elsewhere))
    assert not delivered(receivers, muted)
    assert stack.metric('turnwatch_deliveries_total{outcome="inhibited",sink="pagerduty"}') == 1


def silence(silence_id: str, conversation: str, ends_at: datetime, updated_at: datetime) -> tuple[str, bytes]:
    event = SilenceEvent(
        silence_id=silence_id,
        matchers=[{"name": "conversation_id", "value": conversation}, {"name": "rule", "value": "therapist.*"}],
        created_by="frank",
        comment="a test conversation",
        starts_at=datetime.now(UTC) - timedelta(minutes=1),
        ends_at=ends_at,
        updated_at=updated_at,
    )
    return silence_id, event.to_json()


def test_a_silenced_alert_is_not_notified_until_the_silence_is_expired(stack, receivers):
    now = datetime.now(UTC)
    stack.publish("silences", [silence("sil-1", "conv-sil-1", now + timedelta(hours=1), now)])
    assert wait_until(lambda: stack.metric("turnwatch_active_silences") == 1, timeout=60)
    silenced = alert_record("conv-sil-1", "therapist.dismisses", "high")
    control = alert_record("conv-sil-1", "loop.cycle", "warning")
    stack.publish_alert(silenced)
    stack.publish_alert(control)
    assert wait_until(lambda: delivered(receivers, control))
    assert not delivered(receivers, silenced)
    assert stack.metric('turnwatch_deliveries_total{outcome="silenced",sink="pagerduty"}') == 1

    expired = datetime.now(UTC)
    stack.publish("silences", [silence("sil-1", "conv-sil-1", expired, expired)])
    assert wait_until(lambda: stack.metric("turnwatch_active_silences") == 0, timeout=60)
    after = alert_record("conv-sil-1", "therapist.dismisses", "high")
    stack.publish_alert(after)
    assert wait_until(lambda: delivered(receivers, after))


def test_an_escalation_clock_survives_a_killed_worker_and_its_step_fires_once(stack, receivers):
    """Last in this module: it restarts the worker (its metrics start again from zero)."""
    alert = alert_record("conv-esc-3", "crisis.preparatory_behaviour", "critical")
    counted = 'turnwatch_deliveries_total{outcome="delivered",sink="pagerduty"}'
    before = stack.metric(counted)
    stack.publish_alert(alert)
    assert wait_until(lambda: delivered(receivers, alert))
    paged_at = arrival(receivers, PRIMARY, alert)
    # Counted once the delivery and the escalation clock are flushed. A kill between the receiver's
    # 200 and that flush repeats the POST with the same Idempotency-Key (README, Delivering alerts);
    # this test is about the clock, so it kills after the flush, when no repeat is allowed.
    assert wait_until(lambda: stack.metric(counted) >= before + 1)
    stack.kill()  # the clock is in the escalations table's changelog, flushed with the page
    stack.start()
    assert wait_until(lambda: pages(receivers, SECONDARY, alert), timeout=120)
    assert arrival(receivers, SECONDARY, alert) - paged_at >= 6.0, "the step waited for its time"
    # A later alert of the same conversation: once it is delivered, a replay of the first was handled.
    later = alert_record("conv-esc-3", "loop.cycle", "warning")
    stack.publish_alert(later)
    assert wait_until(lambda: delivered(receivers, later))
    assert len(pages(receivers, PRIMARY, alert)) == 1, "the replayed alert was not paged again"
    assert len(pages(receivers, SECONDARY, alert)) == 1, "the step fired once"
