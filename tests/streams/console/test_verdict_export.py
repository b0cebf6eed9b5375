"""``turnwatch verdicts export`` on a SQLite store: each judged alert with its standing verdict, who gave it
and when, the note, the corrected severity or rule, the alert and its stored turns; and the reader of
``eval --verdicts`` / ``train --verdicts`` taking both these lines and those of older exports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.cli import main
from streams.console.store import AlertStore
from streams.contracts import Alert, TurnEvent
from streams.tooling.verdict_eval import read_examples
from tests.factories import ALERT_FIELDS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_alert(**changes) -> Alert:
    return Alert.model_validate(ALERT_FIELDS | changes)


def make_turn(index: int, conversation_id: str) -> TurnEvent:
    return TurnEvent(
        event_id=f"e-{conversation_id}-{index}",
        conversation_id=conversation_id,
        turn_index=index,
        role="patient",
        text=f"words of turn {index}",
        ts=T0 + timedelta(minutes=index),
    )


@pytest.fixture
def store(tmp_path: Path):
    store = AlertStore.open(f"sqlite:///{tmp_path / 'console.db'}", clock=lambda: T0)
    yield store
    store.close()


def judged_store(store: AlertStore) -> None:
    """Four alerts: one judged twice, one at the wrong severity, one under the wrong rule, one reopened."""
    for alert_id, conversation in (("a-twice", "c1"), ("b-severity", "c2"), ("c-rule", "c3"), ("d-reopened", "c4")):
        store.save_alert(make_alert(alert_id=alert_id, conversation_id=conversation, severity="high"))
        store.save_turns([make_turn(7, conversation), make_turn(8, conversation)])
    at = T0 + timedelta(hours=1)
    store.record_action("a-twice", "verdict", "rita", "reviewer", verdict="false_positive", note="no", at=at)
    store.record_action(
        "a-twice", "verdict", "sam", "reviewer", verdict="true_positive", note="yes", at=at + timedelta(1)
    )
    store.record_action(
        "b-severity", "verdict", "rita", "reviewer", verdict="wrong_severity", note="page it", at=at, detail="critical"
    )
    store.record_action(
        "c-rule", "verdict", "sam", "reviewer", verdict="wrong_rule", note="history", at=at, detail="crisis.history"
    )
    store.record_action("d-reopened", "verdict", "rita", "reviewer", verdict="true_positive", at=at)
    store.save_alert(make_alert(alert_id="d-reopened", conversation_id="c4", severity="critical"))  # clears it


def test_each_judged_alert_carries_its_standing_verdict_reviewer_time_and_correction(store: AlertStore):
    judged_store(store)
    rows = {row["alert"]["alert_id"]: row for row in store.verdict_examples()}
    assert sorted(rows) == ["a-twice", "b-severity", "c-rule"]  # the reopened alert's verdict went stale
    assert {k: v for k, v in rows["a-twice"].items() if k not in ("alert", "turns")} == {
        "verdict": "true_positive",
        "corrected": None,
        "reviewer": "sam",
        "judged_at": "2026-01-02T01:00:00+00:00",
        "note": "yes",
    }
    severity, rule = rows["b-severity"], rows["c-rule"]
    assert (severity["verdict"], severity["corrected"], severity["reviewer"]) == ("wrong_severity", "critical", "rita")
    assert (rule["verdict"], rule["corrected"], rule["reviewer"]) == ("wrong_rule", "crisis.history", "sam")
    assert rule["judged_at"] == "2026-01-01T01:00:00+00:00" and rule["note"] == "history"
    assert Alert.model_validate(rule["alert"]).alert_id == "c-rule"
    assert [TurnEvent.model_validate(t).turn_index for t in rule["turns"]] == [7, 8]

    store.record_action("d-reopened", "verdict", "lee", "reviewer", verdict="false_positive", at=T0 + timedelta(2))
    reopened = [row for row in store.verdict_examples() if row["alert"]["alert_id"] == "d-reopened"]
    assert [(r["verdict"], r["reviewer"], r["judged_at"]) for r in reopened] == [
        ("false_positive", "lee", "2026-01-03T00:00:00+00:00")
    ]


def test_the_export_command_writes_lines_the_verdict_reader_takes(store: AlertStore, tmp_path: Path, capsys):
    judged_store(store)
    out = tmp_path / "verdicts.jsonl"
    assert main(["verdicts", "export", "--db", str(store.engine.url), "--out", str(out)]) == 0
    assert "3 judged alerts written" in capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [set(line) for line in lines] == [
        {"verdict", "corrected", "reviewer", "judged_at", "note", "alert", "turns"}
    ] * 3
    examples = list(read_examples(out))
    assert [(e["alert"].alert_id, e["verdict"], e["corrected"], e["reviewer"]) for e in examples] == [
        ("a-twice", "true_positive", None, "sam"),
        ("b-severity", "wrong_severity", "critical", "rita"),
        ("c-rule", "wrong_rule", "crisis.history", "sam"),
    ]


def test_lines_of_an_older_export_still_read(tmp_path: Path):
    old = {
        "alert": make_alert().model_dump(mode="json"),
        "verdict": "false_positive",
        "note": "",
        "turns": [make_turn(8, "conv-9").model_dump(mode="json")],
    }
    path = tmp_path / "old.jsonl"
    path.write_text(
        json.dumps(old) + "\n" + json.dumps({**old, "verdict": "true_positive", "corrected": "high"}) + "\n"
    )
    first, second = read_examples(path)
    assert (first["reviewer"], first["judged_at"], first["corrected"]) == (None, None, None)
    assert second["corrected"] is None  # a correction means something only with wrong_severity / wrong_rule
    path.write_text(json.dumps({**old, "verdict": "wrong_ish"}) + "\n")
    with pytest.raises(ValueError, match=r"old\.jsonl:1: not a verdict example \(unknown verdict 'wrong_ish'\)"):
        list(read_examples(path))


def test_a_verdict_the_audit_log_does_not_hold_is_credited_to_nobody(store: AlertStore):
    """A row whose standing verdict no audit row gave (written before the audit log, or by hand) is
    exported without a reviewer rather than under someone who said something else."""
    from sqlalchemy import update

    from streams.console.db import alerts

    store.save_alert(make_alert(alert_id="e-hand", conversation_id="c5"))
    store.record_action("e-hand", "verdict", "rita", "reviewer", verdict="false_positive", at=T0)
    with store.engine.begin() as connection:
        connection.execute(update(alerts).where(alerts.c.alert_id == "e-hand").values(verdict="true_positive"))
    [row] = store.verdict_examples()
    assert (row["verdict"], row["reviewer"], row["judged_at"]) == ("true_positive", None, None)
