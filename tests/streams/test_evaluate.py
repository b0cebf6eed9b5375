import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from streams.contracts import Alert
from streams.evaluate import ConversationRun, Label, load_labels, score
from streams.examples import EXAMPLES_DIR, LABELS_DIR


def alert(conversation, rule, turns, alert_id=None, severity="warning"):
    return Alert(alert_id=alert_id or f"{conversation}-{rule}-{turns[0]}", conversation_id=conversation, detector=rule.split(".")[0],
                 rule=rule, severity=severity, turns=turns, evidence=[], score=0.5, summary="s", suggested_action="a",
                 created_at=datetime.now(timezone.utc), detector_version="t")


def test_scoring_matches_overlapping_ranges_and_counts_episodes_once():
    runs = {"c": ConversationRun("c", alerts=[
        alert("c", "loop.cycle", [3, 4, 5]),
        alert("c", "loop.cycle", [3, 4, 5, 6], alert_id="c-loop.cycle-3", severity="high"),  # same episode, upgraded
        alert("c", "therapist.malformed", [9]),                                              # not expected
        alert("c", "crisis.method", [20]),                                                    # outside the range
    ], turns=30), "unlabelled": ConversationRun("unlabelled", alerts=[alert("unlabelled", "loop.cycle", [1])])}
    labels = {"c": [Label("loop.cycle", 5, 8), Label("crisis.method", 10, 12), Label("distress.escalating", 0, 4)]}
    report = score(runs, labels)
    rules = report["per_rule"]
    assert rules["loop.cycle"] == {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert (rules["therapist.malformed"]["fp"], rules["crisis.method"]["fp"], rules["crisis.method"]["fn"]) == (1, 1, 1)
    assert rules["distress.escalating"]["fn"] == 1
    assert report["per_detector"]["loop"]["tp"] == 1 and report["conversations"] == ["c"]


def test_shipped_labels_load_and_cover_every_example():
    labels = load_labels([LABELS_DIR / "expected.jsonl"])
    assert len(labels) == len(list(EXAMPLES_DIR.iterdir()))


def test_eval_command_writes_a_report_and_plots(tmp_path):
    done = subprocess.run([sys.executable, "-m", "streams.cli", "eval", str(EXAMPLES_DIR), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "160"})
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["per_detector"]["crisis"]["recall"] >= 0.8
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(list(EXAMPLES_DIR.iterdir()))
    assert "per rule" in done.stdout and "therapist.malformed" in done.stdout
