"""Paging in sync with the console, end to end: a real broker, a real worker, a real HTTP server
standing in for PagerDuty and the Slack Web API. Reviewer actions are published on the verdicts
topic exactly as the console publishes them."""

from __future__ import annotations

import pytest

from tests.factories import alert_record
from tests.integration.conftest import (
    RecordingReceivers,
    needs_slack_sdk,
    verdict_record,
    wait_until,
)

pytestmark = pytest.mark.integration

PD = "/pd/pager"
POST = "/slack/api/chat.postMessage"
UPDATE = "/slack/api/chat.update"


def config(base: str) -> str:
    return f"""
cooldown_seconds: 0
max_attempts: 60
backoff_initial_seconds: 0.2
backoff_max_seconds: 1.0
receivers:
  - name: pager
    kind: pagerduty
    routing_key: {{env: TW_TEST_PD_KEY}}
    url: "{base}{PD}"
  - name: chat
    kind: slack
    bot_token: {{env: TW_TEST_SLACK_TOKEN}}
    channel: C123
    api_url: "{base}/slack/api/"
routes:
  - match: {{min_severity: high}}
    receivers: [pager, chat]
"""


@pytest.fixture(scope="module")
def receivers(module_harness):
    needs_slack_sdk()
    return module_harness.receivers()


@pytest.fixture(scope="module")
def stack(module_harness, receivers):
    env = {"TW_TEST_PD_KEY": "routing-key-1", "TW_TEST_SLACK_TOKEN": "xoxb-test"}
    return module_harness.delivery(config(receivers.base), env)


def events(receivers: RecordingReceivers, alert_id: str) -> list[str]:
    return [e["event_action"] for e in receivers.to(PD) if e["dedup_key"] == alert_id]


def posts(receivers: RecordingReceivers, alert: dict) -> list[dict]:
    """The Slack messages posted about this alert's conversation."""
    return [p for p in receivers.to(POST) if f"`{alert['conversation_id']}`" in str(p["blocks"])]


def slack_updates(receivers: RecordingReceivers, ts: str) -> list[str]:
    return [u["text"] for u in receivers.to(UPDATE) if u["ts"] == ts]


def test_pagerduty_and_slack_follow_an_alert_from_page_to_resolution(stack, receivers):
    alert = alert_record("conv-sync-1", "crisis.active_ideation", "high")
    stack.publish_alert(alert)
    assert wait_until(lambda: events(receivers, alert["alert_id"]) == ["trigger"])
    assert wait_until(lambda: posts(receivers, alert))
    [post] = posts(receivers, alert)
    assert post["channel"] == "C123" and "Conversation" in str(post["blocks"])
    ts = post["_ts"]

    # The same episode again at a higher severity: PagerDuty folds it into the incident, Slack edits its message.
    stack.publish_alert({**alert, "severity": "critical"})
    assert wait_until(lambda: events(receivers, alert["alert_id"]) == ["trigger", "trigger"])
    assert wait_until(lambda: any("Escalated from high to critical" in t for t in slack_updates(receivers, ts)))

    # A reviewer acknowledges in the console, the event is delivered twice, then they resolve.
    ack = verdict_record({**alert, "severity": "critical"}, "acknowledge", actor="alice")
    stack.publish("verdicts", [ack])
    assert wait_until(lambda: events(receivers, alert["alert_id"])[-1:] == ["acknowledge"])
    assert wait_until(lambda: any("Acknowledged by alice" in t for t in slack_updates(receivers, ts)))
    stack.publish("verdicts", [ack, verdict_record({**alert, "severity": "critical"}, "resolve", actor="bob")])
    assert wait_until(lambda: events(receivers, alert["alert_id"])[-1:] == ["resolve"])
    assert wait_until(lambda: any("Resolved by bob" in t for t in slack_updates(receivers, ts)))

    pages = [e for e in receivers.to(PD) if e["dedup_key"] == alert["alert_id"]]
    assert [e["event_action"] for e in pages] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {e["routing_key"] for e in pages} == {"routing-key-1"}, "updates use the trigger's routing key"
    assert [p["payload"]["severity"] for p in pages[:2]] == ["error", "critical"]
    texts = slack_updates(receivers, ts)
    assert sum("Acknowledged by alice" in t for t in texts) == 1, "a redelivered acknowledgement is not repeated"
    assert len(posts(receivers, alert)) == 1, "one message, edited in place"
    # The worker counts an update once it is delivered and its state flushed: a receiver can see it first.
    for series in (
        'turnwatch_paging_updates_total{action="acknowledge",sink="pagerduty"}',
        'turnwatch_paging_updates_total{action="resolve",sink="slack"}',
    ):
        assert wait_until(lambda series=series: stack.metric(series) >= 1), series
        assert stack.metric(series) == 1, series


def test_a_reviewer_acting_while_the_page_is_still_in_retry_reaches_the_receiver_after_it(stack, receivers):
    receivers.failing.add(PD)
    before = receivers.attempts.count(PD)
    try:
        alert = alert_record("conv-sync-2", "crisis.method", "critical")
        stack.publish_alert(alert)
        assert wait_until(lambda: receivers.attempts.count(PD) >= before + 2), "PagerDuty is down: retried"
        stack.publish("verdicts", [verdict_record(alert, "acknowledge", actor="carol")])
        assert wait_until(lambda: any("Acknowledged by carol" in u["text"] for u in receivers.to(UPDATE)))
        assert events(receivers, alert["alert_id"]) == []
    finally:
        receivers.failing.discard(PD)
    assert wait_until(lambda: events(receivers, alert["alert_id"]) == ["trigger", "acknowledge"])
