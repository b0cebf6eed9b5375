"""Verdicts that teach: per-rule score thresholds chosen from reviewers' verdicts (``turnwatch train
--verdicts``), the thresholds file a worker reads when its pipeline is built, and the pipeline holding
back findings under their rule's threshold. Real detector code throughout (``therapist.malformed``
scores a placeholder answer 1.0 and a cut-off one 0.6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from detectors.registry import discover, rule_names, select
from streams.cli import main
from streams.console.store import AlertStore
from streams.contracts import TurnEvent
from streams.errors import ConfigError
from streams.ingest.files import Record
from streams.monitor.build import RuleThreshold, build_pipeline, load_rule_thresholds
from streams.monitor.pipeline import Pipeline, record_metrics
from streams.settings import Settings, load_settings
from streams.tooling.config_check import check_config
from streams.tooling.scan import scan_records
from streams.tooling.verdict_eval import evaluate_verdicts, read_examples
from streams.tooling.verdict_training import (
    choose_threshold,
    held_out,
    train_from_verdicts,
    write_thresholds,
)

NOW = datetime(2026, 5, 1, tzinfo=UTC)
PLACEHOLDER = "[Answer missing]"  # malformed, high, score 1.0: reviewers keep these
CUT_OFF = "That sounds hard, and I wonder if you could"  # malformed, warning, score 0.6: reviewers reject these
RULE = "therapist.malformed"


def conversation(conversation_id: str, *answers: str) -> list[TurnEvent]:
    texts = [("patient", "I had a long week at work.")]
    for answer in answers:
        texts += [("therapist", answer), ("patient", "I suppose so, it has been a lot lately.")]
    return [
        TurnEvent(
            event_id=f"{conversation_id}:{i}", conversation_id=conversation_id, turn_index=i, role=role, text=t, ts=NOW
        )
        for i, (role, t) in enumerate(texts)
    ]


def therapist_pipeline(**thresholds: float) -> Pipeline:
    return Pipeline(select(discover(), ["therapist"]), clock=lambda: NOW, min_scores=thresholds)


def scan(turns: list[TurnEvent], pipeline: Pipeline) -> list:
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in turns]
    return list(scan_records(records, pipeline))


def example(conversation_id: str, answer: str, verdict: str, corrected: str | None = None) -> dict:
    turns = conversation(conversation_id, answer)
    [alert] = [a for r in scan(turns, therapist_pipeline()) for a in r.alerts if a.rule == RULE]
    return {"alert": alert, "verdict": verdict, "corrected": corrected, "note": "", "turns": turns}


# Written for these tests: a patient about to act tonight, and an answer that ignores it.
PAGED = "I have been saving my pills for weeks and tonight I am going to swallow all of them."
IGNORED = "Let's get back to your goals for the week."
PAGE_RULE = "crisis.preparatory_behaviour"


def crisis_turns(conversation_id: str) -> list[TurnEvent]:
    texts = [("patient", PAGED), ("therapist", IGNORED), ("patient", "okay.")]
    return [
        TurnEvent(
            event_id=f"{conversation_id}:{i}", conversation_id=conversation_id, turn_index=i, role=role, text=t, ts=NOW
        )
        for i, (role, t) in enumerate(texts)
    ]


# Choosing a threshold (a pure function of (score, right to raise) pairs)


def test_the_lowest_threshold_that_reaches_the_target_is_chosen():
    pairs = [(0.6, False)] * 6 + [(0.7, True)] + [(0.8, False)] + [(1.0, True)] * 8
    choice = choose_threshold(pairs, target_precision=0.9, min_examples=10)
    assert (choice.status, choice.min_score) == ("calibrated", 0.7)
    assert (choice.judged, choice.precision_before, choice.precision_after, choice.recall_after) == (
        16,
        0.562,
        0.9,
        1.0,
    )


def test_a_score_equal_to_the_threshold_is_kept():
    pairs = [(0.5, False)] * 5 + [(0.9, True)] * 5
    choice = choose_threshold(pairs, target_precision=1.0, min_examples=10)
    assert choice.min_score == 0.9 and choice.recall_after == 1.0


@pytest.mark.parametrize(
    ("pairs", "status", "reason"),
    [
        ([(0.6, False), (1.0, True)], "too_few", "2 judged alerts raised again by the current code; 10 needed"),
        ([(0.6, False)] + [(1.0, True)] * 9, "already_at_target", "precision 0.900 reaches 0.9 without one"),
        ([(1.0, False)] * 5 + [(1.0, True)] * 5, "unreachable", "does not separate"),
        ([(0.6, True)] * 6 + [(0.6, False)] * 2 + [(1.0, True)] * 2, "too_costly", "keeps 0.250 of the true alerts"),
    ],
)
def test_a_rule_is_left_alone_with_the_reason(pairs, status, reason):
    choice = choose_threshold(pairs, target_precision=0.9, min_examples=10, min_recall=0.5)
    assert choice.min_score is None and choice.status == status and reason in choice.reason
    assert choice.precision_after == choice.precision_before


@pytest.mark.parametrize(
    ("current", "status", "min_score", "reason"),
    [
        (None, "already_at_target", None, "reaches 0.9 without one"),
        (0.5, "already_at_target", 0.5, "min_score 0.5 kept: no judged alert scores below it"),
        (0.9, "already_at_target", 0.7, "from the lowest judged score 0.7: min_score 0.9 -> 0.7"),
    ],
)
def test_a_rule_at_target_is_not_loosened_past_what_reviewers_saw(current, status, min_score, reason):
    """Only raised alerts get judged: under a threshold, nothing below it was, so nothing says lowering it is safe."""
    pairs = [(0.7, True)] * 2 + [(0.8, False)] + [(1.0, True)] * 9
    choice = choose_threshold(pairs, target_precision=0.9, min_examples=10, current=current)
    assert (choice.status, choice.min_score) == (status, min_score) and reason in choice.reason
    assert choice.precision_after == choice.precision_before == 0.917 and choice.recall_after == 1.0


def test_the_split_is_by_conversation_stable_and_near_the_fraction():
    ids = [f"conversation-{i}" for i in range(2000)]
    first = [held_out(i, 0.3) for i in ids]
    assert first == [held_out(i, 0.3) for i in ids]
    assert 0.27 < sum(first) / len(ids) < 0.33
    assert not any(held_out(i, 0.0) for i in ids[:50]) and all(held_out(i, 0.999999) for i in ids[:50])


# What a corrected verdict says about raising the alert


def test_wrong_severity_counts_as_right_to_raise_and_wrong_rule_as_wrong():
    examples = [
        example("c1", PLACEHOLDER, "wrong_severity", corrected="high"),
        example("c2", PLACEHOLDER, "wrong_severity", corrected="critical"),
        example("c3", CUT_OFF, "wrong_rule", corrected="therapist.dismisses"),
    ]
    row = evaluate_verdicts(examples, therapist_pipeline())["per_rule"][RULE]
    assert (row["kept"], row["remaining"], row["wrong_severity"], row["wrong_rule"]) == (2, 1, 2, 1)
    assert row["severity_fixed"] == 1  # c1 is raised again at the severity its reviewer named
    assert row["precision"] == 0.667


# The thresholds file


def write_json(path: Path, value) -> Path:
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"is not valid JSON"),
        ([0.5], r"expected an object of rule"),
        (
            {"therapist.malformd": {"min_score": 0.5}},
            r"therapist\.malformd: not a rule of any detector; did you mean 'therapist\.malformed'",
        ),
        ({RULE: {"min_score": 1.5}}, r"therapist\.malformed\.min_score: Input should be less than or equal to 1"),
        (
            {RULE: {"min_scor": 0.5}},
            r"therapist\.malformed\.min_score: Field required; therapist\.malformed\.min_scor: Extra",
        ),
        ({RULE: 0.5}, r"therapist\.malformed: Input should be a valid dictionary"),
    ],
)
def test_a_bad_thresholds_file_fails_naming_the_file_and_key(tmp_path: Path, content, message):
    path = write_json(tmp_path / "rule_thresholds.json", content)
    with pytest.raises(
        ConfigError, match=r"TURNWATCH_RULE_THRESHOLDS \(rule_thresholds\): .*rule_thresholds\.json"
    ) as caught:
        load_rule_thresholds(path, rule_names(discover().values()))
    assert caught.match(message)


def test_a_missing_thresholds_file_fails_before_any_model_loads(tmp_path: Path):
    settings = Settings(rule_thresholds=tmp_path / "nowhere.json", detectors=["therapist"])
    with pytest.raises(
        ConfigError, match=r"TURNWATCH_RULE_THRESHOLDS \(rule_thresholds\): cannot read .*nowhere\.json"
    ):
        build_pipeline(settings)  # would load the encoder first if the file were read after it


def test_the_setting_comes_from_the_environment_and_check_config_reads_the_file(tmp_path: Path, monkeypatch):
    good = write_json(tmp_path / "good.json", {RULE: {"min_score": 0.8, "trained_on": 12}})
    monkeypatch.setenv("TURNWATCH_RULE_THRESHOLDS", str(good))
    assert load_settings().rule_thresholds == good
    problems, summary = check_config(None, None)
    assert not [p for p in problems if "RULE_THRESHOLDS" in p]
    assert f"rule thresholds: 1 rules ({good})" in summary
    monkeypatch.setenv("TURNWATCH_RULE_THRESHOLDS", str(write_json(tmp_path / "bad.json", {RULE: {"min_score": -1}})))
    problems, _ = check_config(None, None)
    assert any(
        "bad.json: therapist.malformed.min_score: Input should be greater than or equal to 0" in p for p in problems
    )


def test_a_written_file_reads_back(tmp_path: Path):
    entry = RuleThreshold(min_score=0.6, trained_on=14, target_precision=0.9, made_at=NOW)
    path = write_thresholds({RULE: entry}, tmp_path / "deep" / "rule_thresholds.json")
    assert json.loads(path.read_text()) == {
        RULE: {"min_score": 0.6, "trained_on": 14, "target_precision": 0.9, "made_at": "2026-05-01T00:00:00Z"}
    }
    assert load_rule_thresholds(path, [RULE]) == {RULE: entry}


# The pipeline applying them


def test_the_pipeline_holds_back_findings_under_their_rules_threshold():
    turns = conversation("c-pipe", CUT_OFF, PLACEHOLDER)
    assert [(a.severity, a.score) for r in scan(turns, therapist_pipeline()) for a in r.alerts if a.rule == RULE] == [
        ("warning", 0.6),
        ("high", 1.0),
    ]
    metric = ("turnwatch_findings_below_threshold_total", {"rule": RULE})
    before = REGISTRY.get_sample_value(*metric) or 0.0
    results = scan(turns, therapist_pipeline(**{RULE: 1.0}))
    for result in results:
        record_metrics(result)
    assert [(a.severity, a.score) for r in results for a in r.alerts if a.rule == RULE] == [("high", 1.0)]
    assert [rule for r in results for rule in r.below_threshold] == [RULE]
    assert REGISTRY.get_sample_value(*metric) == before + 1
    other_rule = scan(turns, therapist_pipeline(**{"therapist.dismisses": 1.0}))
    assert len([a for r in other_rule for a in r.alerts if a.rule == RULE]) == 2


def test_a_threshold_never_holds_back_a_page(full_pipeline):
    turns = crisis_turns("c-page")
    unthresholded = {
        a.rule: (a.severity, a.score) for r in scan(turns, full_pipeline.with_min_scores({})) for a in r.alerts
    }
    assert unthresholded[PAGE_RULE][0] == "critical" and unthresholded[PAGE_RULE][1] < 1.0
    assert unthresholded["therapist.missed_crisis"] == ("critical", 1.0)
    strict = full_pipeline.with_min_scores({PAGE_RULE: 1.0, RULE: 1.0})
    results = scan(turns, strict)
    paged = {a.rule: (a.severity, a.score) for r in results for a in r.alerts}
    assert paged[PAGE_RULE] == unthresholded[PAGE_RULE]
    assert not [rule for r in results for rule in r.below_threshold]


# Training on verdicts


def verdict_set() -> list[dict]:
    """Placeholders judged right, cut-offs judged wrong (one each as a corrected verdict), one unsure."""
    kept = [example(f"conv-true-{i:02d}", PLACEHOLDER, "true_positive") for i in range(1, 12)]
    rejected = [example(f"conv-cut-{i:02d}", CUT_OFF, "false_positive") for i in range(1, 12)]
    corrected = [
        example("conv-true-00", PLACEHOLDER, "wrong_severity", corrected="critical"),
        example("conv-cut-00", CUT_OFF, "wrong_rule", corrected="therapist.dismisses"),
        example("conv-unsure", CUT_OFF, "unsure"),
    ]
    return kept + rejected + corrected


def test_training_chooses_the_threshold_on_one_part_and_checks_it_on_the_other():
    examples = verdict_set()
    current = {"therapist.dismisses": RuleThreshold(min_score=0.4)}  # no verdicts of it now: kept as it was
    thresholds, report = train_from_verdicts(
        examples, therapist_pipeline(), current=current, target_precision=0.9, min_examples=4, now=NOW
    )
    calibration = [e for e in examples if not held_out(e["alert"].conversation_id, 0.3) and e["verdict"] != "unsure"]
    assert thresholds == {
        "therapist.dismisses": RuleThreshold(min_score=0.4),
        RULE: RuleThreshold(min_score=1.0, trained_on=len(calibration), target_precision=0.9, made_at=NOW),
    }
    row = report["rules"][RULE]
    assert (row["status"], row["min_score"], row["precision_after"], row["recall_after"]) == (
        "calibrated",
        1.0,
        1.0,
        1.0,
    )
    assert row["severity_corrections"] == {"critical": 1} and row["corrected_rules"] == {"therapist.dismisses": 1}
    held = [e for e in examples if held_out(e["alert"].conversation_id, 0.3) and e["verdict"] != "unsure"]
    right = sum(e["verdict"] in ("true_positive", "wrong_severity") for e in held)
    assert 0 < right < len(held), "the held-out part must hold both kinds for the check to mean something"
    assert row["held_out"] == {
        "judged": len(held),
        "right_to_raise": right,
        "before": {"raised": len(held), "precision": round(right / len(held), 3), "recall": 1.0},
        "after": {"raised": right, "precision": 1.0, "recall": 1.0},
    }
    assert report["unsure"] == 1 and report["kept_without_verdicts"] == ["therapist.dismisses"]
    assert report["heads"]["retrained"] == []


def test_a_rule_with_too_few_verdicts_keeps_its_threshold_and_one_at_target_keeps_what_was_seen():
    few = [example(f"conv-cut-{i:02d}", CUT_OFF, "false_positive") for i in range(3)]
    current = {RULE: RuleThreshold(min_score=0.9, trained_on=30, target_precision=0.95, made_at=NOW)}
    thresholds, report = train_from_verdicts(few, therapist_pipeline(), current=current, min_examples=10)
    assert thresholds == current and report["rules"][RULE]["status"] == "too_few"
    good = [example(f"conv-true-{i:02d}", PLACEHOLDER, "true_positive") for i in range(12)]
    thresholds, report = train_from_verdicts(good, therapist_pipeline(), current=current, min_examples=4)
    assert thresholds == current and report["rules"][RULE]["status"] == "already_at_target"
    thresholds, report = train_from_verdicts(good, therapist_pipeline(), min_examples=4)
    assert thresholds == {} and report["rules"][RULE]["written_min_score"] is None
    # Cut-offs judged (before the 0.9 threshold held them back) right to raise: down to what reviewers saw.
    judged_before = good + [example(f"conv-cut-{i:02d}", CUT_OFF, "true_positive") for i in range(12)]
    later = datetime(2026, 6, 1, tzinfo=UTC)
    thresholds, report = train_from_verdicts(
        judged_before, therapist_pipeline(), current=current, min_examples=4, now=later
    )
    assert thresholds[RULE].min_score == 0.6 and thresholds[RULE].made_at == later
    assert report["rules"][RULE]["held_out"]["after"]["recall"] == 1.0
    assert report["rules"][RULE]["held_out"]["before"]["recall"] < 1.0


def test_pages_are_reported_not_thresholded(full_pipeline):
    examples = []
    for i in range(8):
        turns = crisis_turns(f"conv-page-{i}")
        [alert] = [a for r in scan(turns, full_pipeline) for a in r.alerts if a.rule == PAGE_RULE]
        verdict = "false_positive" if i < 3 else "true_positive"
        examples.append({"alert": alert, "verdict": verdict, "corrected": None, "note": "", "turns": turns})
    current = {PAGE_RULE: RuleThreshold(min_score=0.5)}
    thresholds, report = train_from_verdicts(
        examples, full_pipeline, current=current, target_precision=0.9, min_examples=2, holdout=0.01
    )
    row = report["rules"][PAGE_RULE]
    assert report["calibration"]["examples"] == 8, "every conversation in the calibration part"
    assert (row["status"], row["min_score"], row["pages"], row["judged"]) == ("pages", None, 8, 8)
    assert row["precision_before"] == 0.625 and "never holds back a page" in row["reason"]
    assert thresholds == current


# End to end: console store -> verdicts export -> train --verdicts -> a worker's pipeline


def test_verdicts_from_the_console_train_thresholds_a_rebuilt_pipeline_applies(tmp_path: Path, capsys):
    url = f"sqlite:///{tmp_path / 'console.db'}"
    store = AlertStore.open(url, clock=lambda: NOW)
    try:
        for item in verdict_set():
            store.save_alert(item["alert"])
            store.save_turns(item["turns"])
            store.record_action(
                item["alert"].alert_id,
                "verdict",
                "rita",
                "reviewer",
                verdict=item["verdict"],
                note="judged in the test",
                at=NOW,
                detail=item["corrected"],
            )
    finally:
        store.close()
    export = tmp_path / "verdicts.jsonl"
    assert main(["verdicts", "export", "--db", url, "--out", str(export)]) == 0
    assert len(list(read_examples(export))) == len(verdict_set())

    config = write_json(tmp_path / "turnwatch.yaml", "detectors: [therapist]\n")
    out = tmp_path / "rule_thresholds.json"
    capsys.readouterr()
    argv = ["--config", str(config), "train", "--verdicts", str(export), "--out", str(out), "--min-examples", "4"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert written[RULE]["min_score"] == 1.0 and written[RULE]["target_precision"] == 0.9
    assert report["thresholds_file"] == str(out) and report["rules"][RULE]["held_out"]["after"]["precision"] == 1.0

    assert main(["--config", str(config), "eval", "--verdicts", str(export), "--out", str(tmp_path / "eval")]) == 0
    table = capsys.readouterr().out
    assert "wrong severity" in table and "severity fixed" in table and "wrong rule" in table
    evaluated = json.loads((tmp_path / "eval" / "verdicts.json").read_text())["per_rule"][RULE]
    assert (evaluated["wrong_severity"], evaluated["wrong_rule"], evaluated["unsure"]) == (1, 1, 1)

    # What a worker restarted with TURNWATCH_RULE_THRESHOLDS builds (the encoder left out: malformed reads text only).
    worker = build_pipeline(load_settings(config, rule_thresholds=out), extractors=[])
    assert worker.min_scores == {RULE: 1.0}
    alerts = [a for r in scan(conversation("conv-new", CUT_OFF, PLACEHOLDER), worker) for a in r.alerts]
    assert [(a.rule, a.severity) for a in alerts if a.rule == RULE] == [(RULE, "high")]
