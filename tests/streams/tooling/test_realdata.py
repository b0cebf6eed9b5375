"""`turnwatch eval --dataset`: alert rates on real-data files (small files written here, same formats)."""

import csv
import json
import subprocess
import sys

import pytest

from streams.tooling.realdata import evaluate_dataset, read_dataset

COUNSEL_CHAT_ROWS = [
    (
        "1",
        "anxiety",
        "Nervous before talks",
        "My hands shake before every presentation at work.",
        "Shaking hands before speaking is common. What helps you feel steady?",
    ),
    (
        "1",
        "anxiety",
        "Nervous before talks",
        "My hands shake before every presentation at work.",
        "Many people notice this. Would you like to try a short breathing exercise together?",
    ),
    (
        "2",
        "self-harm",
        "Hurting myself",
        "I've started cutting myself again and I want to kill myself.",
        "Thank you for telling me. Are you safe right now? Please call 988 or your local emergency number.",
    ),
]


def write_counsel_chat(path):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["questionID", "topic", "questionTitle", "questionText", "answerText", "upvotes", "split"])
        for row in COUNSEL_CHAT_ROWS:
            writer.writerow([*row, "0", "train"])


def test_counsel_chat_counts_each_question_once_and_every_answer(tmp_path, full_pipeline):
    path = tmp_path / "counsel_chat.csv"
    write_counsel_chat(path)
    turns = list(read_dataset("counsel-chat", path, split="all"))
    assert [(t.role, t.scored) for t in turns] == [
        ("patient", True),
        ("therapist", True),
        ("patient", False),
        ("therapist", True),
        ("patient", True),
        ("therapist", True),
    ]
    report = evaluate_dataset("counsel-chat", path, full_pipeline, split="all")
    assert report.turns == {"patient": 2, "therapist": 3}
    data = report.to_dict()
    crisis = {rule: v for rule, v in data["rules"].items() if rule.startswith("crisis.")}
    assert crisis and all(
        v["by_severity"].get("critical", 0) + v["by_severity"].get("high", 0) >= 1 for v in crisis.values()
    )
    assert data["groups"]["risk_topic"]["paged"] == 1 and data["groups"]["other_topic"].get("paged", 0) == 0
    assert "therapist.missed_crisis" not in data["rules"]  # the answer offers safety steps


def test_sdcnl_reports_post_level_recall_and_the_depression_flag_rate(tmp_path, full_pipeline):
    path = tmp_path / "training-set.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "selftext", "is_suicide"])
        writer.writerow(["done", "I have the pills counted out and I am going to take them all tonight.", "1"])
        writer.writerow(["tired", "Work has been grey and I sleep badly, but I still enjoy my weekend runs.", "0"])
    report = evaluate_dataset("sdcnl", path, full_pipeline, split="all").to_dict()
    assert report["labelled"]["paged"] == {
        "recall_on_suicidewatch": 1.0,
        "precision_vs_depression": 1.0,
        "depression_flag_rate": 0.0,
    }


def test_unknown_dataset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        list(read_dataset("nosuch", tmp_path))


def test_the_eval_command_prints_a_table_and_writes_json(tmp_path):
    path = tmp_path / "counsel_chat.csv"
    write_counsel_chat(path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "eval",
            "--dataset",
            "counsel-chat",
            "--split",
            "all",
            str(path),
            "--out",
            str(tmp_path / "eval"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "per 100 turns" in out.stdout and "crisis." in out.stdout
    report = json.loads((tmp_path / "eval" / "counsel-chat.json").read_text())
    assert report["turns"] == {"patient": 2, "therapist": 3}
