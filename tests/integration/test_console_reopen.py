"""An escalation reopens what a reviewer had closed: through the real broker, the console's
collector and its store (issue 24's safety bug)."""

from __future__ import annotations

import queue
import uuid

import pytest
from kafka import KafkaProducer

from streams.console.collector import Collector
from streams.console.store import AlertStore
from streams.console.views import AlertFilter, AlertSummary
from streams.contracts import Alert
from tests.factories import ALERT_FIELDS

pytestmark = pytest.mark.integration


def test_a_resolved_false_positive_that_escalates_is_open_again_in_the_store_and_the_feed(broker, tmp_path):
    topics = {"alerts": f"alerts-{uuid.uuid4().hex[:8]}", "turns": f"turns-{uuid.uuid4().hex[:8]}"}
    store = AlertStore.open(f"sqlite:///{tmp_path / 'console.db'}")
    feed: queue.Queue[AlertSummary] = queue.Queue()
    collector = Collector(
        store,
        {
            "bootstrap_servers": broker.address,
            "group_id": f"console-{uuid.uuid4().hex[:8]}",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
        },
        topics["alerts"],
        topics["turns"],
        context=2,
        on_alert=feed.put,
    )
    producer = KafkaProducer(bootstrap_servers=broker.address)
    collector.start()
    try:
        first = Alert.model_validate(ALERT_FIELDS | {"severity": "warning", "turns": [3]})
        producer.send(topics["alerts"], key=first.conversation_id.encode(), value=first.to_json()).get(30)
        assert feed.get(timeout=120).status == "open"
        store.record_action(first.alert_id, "verdict", "rita", "reviewer", verdict="false_positive")
        store.record_action(first.alert_id, "resolve", "rita", "reviewer")
        assert not store.alerts(AlertFilter(status="open"))

        escalated = Alert.model_validate(ALERT_FIELDS | {"severity": "critical", "turns": [3, 7]})
        producer.send(topics["alerts"], key=first.conversation_id.encode(), value=escalated.to_json()).get(30)
        shown = feed.get(timeout=120)
        assert (shown.alert_id, shown.severity, shown.status, shown.verdict) == (
            first.alert_id,
            "critical",
            "open",
            None,
        )
        view = store.alert(first.alert_id)
        assert (view.status, view.verdict, view.alert.severity) == (shown.status, shown.verdict, shown.severity)
        assert [r.action for r in view.actions] == ["verdict", "resolve", "reopen"]
        assert view.actions[0].stale and "false_positive" in view.actions[-1].note
        assert [row.alert_id for row in store.alerts(AlertFilter(status="open"))] == [first.alert_id]
    finally:
        producer.close()
        collector.stop()
        collector.join(30)
        store.close()
