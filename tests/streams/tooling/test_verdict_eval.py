"""Reviewer verdicts as an evaluation set: judged alerts replayed through the current code."""

import json
from datetime import UTC, datetime

import pytest

from detectors.registry import discover, select
from streams.contracts import TurnEvent
from streams.ingest.files import Record
from streams.monitor.pipeline import Pipeline
from streams.tooling.scan import scan_records
from streams.tooling.verdict_eval import evaluate_verdicts, raised_again, read_examples

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def turns(conversation: str, therapist_text: str) -> list[TurnEvent]:
    texts = [("patient", "I had a long week at work."), ("therapist", therapist_text)]
    return [
        TurnEvent(
            event_id=f"{conversation}:{i}", conversation_id=conversation, turn_index=i, role=role, text=text, ts=NOW
        )
        for i, (role, text) in enumerate(texts)
    ]


def pipeline() -> Pipeline:
    return Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW)


def judged(conversation: str, verdict: str, therapist_text: str = "[Answer missing]") -> dict:
    stored = turns(conversation, therapist_text)
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in stored]
    alerts = [a for r in scan_records(records, pipeline()) for a in r.alerts]
    assert alerts, "the example must raise an alert to be judged"
    return {"alert": alerts[0], "verdict": verdict, "note": "", "turns": stored}


def test_a_judged_alert_the_code_still_raises_is_kept_or_remains():
    assert raised_again(judged("c1", "true_positive"), pipeline())
    report = evaluate_verdicts([judged("c1", "true_positive"), judged("c2", "false_positive")], pipeline())
    row = report["per_rule"]["therapist.malformed"]
    assert (row["kept"], row["remaining"], row["lost"], row["fixed"]) == (1, 1, 0, 0)
    assert row["precision"] == 0.5


def test_an_alert_the_code_no_longer_raises_is_lost_or_fixed():
    true_then_gone = judged("c3", "true_positive")
    false_then_gone = judged("c4", "false_positive")
    for example in (true_then_gone, false_then_gone):
        example["turns"] = turns(example["alert"].conversation_id, "How did the week feel for you?")
    report = evaluate_verdicts([true_then_gone, false_then_gone, {**judged("c5", "unsure")}], pipeline())
    row = report["per_rule"]["therapist.malformed"]
    assert (row["lost"], row["fixed"], row["unsure"], row["precision"]) == (1, 1, 1, None)


def test_read_examples_validates_each_line(tmp_path):
    example = judged("c6", "false_positive")
    good = json.dumps(
        {
            **example,
            "alert": example["alert"].model_dump(mode="json"),
            "turns": [t.model_dump(mode="json") for t in example["turns"]],
        }
    )
    path = tmp_path / "verdicts.jsonl"
    path.write_text(good + "\n")
    [row] = read_examples(path)
    assert row["alert"].rule == "therapist.malformed" and row["turns"][1].role == "therapist"
    path.write_text(good + "\n" + json.dumps({"alert": {}, "verdict": "maybe", "turns": []}) + "\n")
    with pytest.raises(ValueError, match=r"verdicts\.jsonl:2"):
        list(read_examples(path))
