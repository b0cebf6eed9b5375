from datetime import UTC, datetime

from streams.contracts import Alert, VerdictEvent
from streams.delivery.lifecycle import add_receiver, apply_verdict, pending_update, track
from tests.factories import ALERT_FIELDS

ALERT = Alert.model_validate({**ALERT_FIELDS, "severity": "high"})


def verdict(action: str, action_id: str = "a1", severity: str = "high", actor: str = "alice") -> VerdictEvent:
    return VerdictEvent(
        action_id=action_id,
        alert_id=ALERT.alert_id,
        conversation_id=ALERT.conversation_id,
        detector=ALERT.detector,
        rule=ALERT.rule,
        severity=severity,
        action=action,
        actor=actor,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_an_alert_moves_open_acknowledged_resolved_and_never_back():
    entry = add_receiver(track(None, ALERT), "pager")
    assert entry["status"] == "open" and pending_update(entry) is None
    entry, moved = apply_verdict(entry, verdict("acknowledge"))
    assert moved and entry["status"] == "acknowledged" and entry["by"] == "alice" and entry["receivers"] == ["pager"]
    assert apply_verdict(entry, verdict("acknowledge", "a2", actor="bob")) == (entry, False), "a second ack"
    assert apply_verdict(entry, verdict("acknowledge")) == (entry, False), "the same event again"
    assert apply_verdict(entry, verdict("verdict", "a3"))[1] is False
    entry, moved = apply_verdict(entry, verdict("resolve", "a4", actor="bob"))
    assert moved and entry["status"] == "resolved" and entry["action_id"] == "a4"
    assert apply_verdict(entry, verdict("acknowledge", "a5"))[1] is False


def test_resolving_may_skip_acknowledging():
    entry, moved = apply_verdict(track(None, ALERT), verdict("resolve"))
    assert moved and pending_update(entry) == "resolve"


def test_a_verdict_before_the_page_is_kept_and_the_page_that_follows_carries_it():
    entry, moved = apply_verdict(None, verdict("acknowledge"))
    assert moved and entry["alert"] is None
    entry = add_receiver(track(entry, ALERT), "chat")
    assert entry["status"] == "acknowledged", "the same severity does not reopen"
    assert pending_update(entry) == "acknowledge"


def test_a_higher_severity_reopens_the_alert_and_an_older_acknowledgement_does_not_close_it():
    entry, _ = apply_verdict(add_receiver(track(None, ALERT), "pager"), verdict("acknowledge"))
    critical = ALERT.model_copy(update={"severity": "critical"})
    reopened = track(entry, critical)
    assert reopened["status"] == "open" and reopened["by"] is None and reopened["receivers"] == ["pager"]
    assert reopened["alert"]["severity"] == "critical"
    assert apply_verdict(reopened, verdict("resolve", "late", severity="high"))[1] is False
    assert apply_verdict(reopened, verdict("acknowledge", "a2", severity="critical"))[1] is True


def test_a_console_ahead_of_delivery_is_not_reopened_by_the_upgrade_it_already_saw():
    entry, _ = apply_verdict(track(None, ALERT), verdict("acknowledge", severity="critical"))
    assert track(entry, ALERT.model_copy(update={"severity": "critical"}))["status"] == "acknowledged"


def test_add_receiver_once():
    entry = add_receiver(add_receiver(track(None, ALERT), "pager"), "pager")
    assert entry["receivers"] == ["pager"]


def test_a_notice_overtaken_in_the_retry_topic_is_superseded():
    from streams.delivery.lifecycle import superseded

    entry = track(None, ALERT)
    assert not superseded(None, "trigger", "high") and not superseded(entry, "trigger", "high")
    assert superseded(track(entry, ALERT.model_copy(update={"severity": "critical"})), "trigger", "high")
    acked, _ = apply_verdict(entry, verdict("acknowledge"))
    assert not superseded(acked, "trigger", "high"), "a late page still goes out, then its acknowledgement"
    assert not superseded(acked, "acknowledge", "high")
    resolved, _ = apply_verdict(acked, verdict("resolve", "a2"))
    assert superseded(resolved, "acknowledge", "high") and superseded(resolved, "trigger", "high")
    assert not superseded(resolved, "resolve", "high")
