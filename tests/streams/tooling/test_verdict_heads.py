"""Verdicts that retrain a head: the sentence a verdict on a code-decided therapist rule labels, the
checks a retrained counselling codes head must pass on held-out verdicts before it is written, and the
whole path from a console export to a worker pipeline that loads the new head. Real encoder, real
committed head, real hand-coded training sets from ../shared/data; the answers are written for these
tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from detectors.encoder import Encoder
from detectors.therapist.codes import CODES, CodesModel
from streams.cli import main
from streams.console.store import AlertStore
from streams.contracts import TurnEvent
from streams.ingest.files import Record
from streams.monitor.build import build_pipeline
from streams.settings import load_settings
from streams.tooling.scan import scan_records
from streams.tooling.verdict_heads import VERDICT_COPIES, adoption, verdict_sentences

NOW = datetime(2026, 5, 1, tzinfo=UTC)
HARSH = "therapist.harsh_or_shaming"
ADVICE = "therapist.advice_without_empathy"
PATIENTS = (
    "I forgot to call my sister back again and now she is upset with me. I feel awful about it.",
    "I missed my deadline at work and my manager noticed. I feel like a failure.",
    "I yelled at my kid this morning and I feel terrible.",
    "I skipped the gym all week and I hate myself for it.",
    "I cancelled on my friend at the last minute and she sounded hurt.",
    "I spent too much money this month and now I am anxious about rent.",
)
SHAMING = (
    "Honestly, that is pretty selfish of you. You should be embarrassed by how you treat people.",
    "Honestly, that is pretty lazy of you. You should be embarrassed by how you behave.",
    "That is pretty selfish of you, and you should be ashamed of it.",
    "That was thoughtless of you. You should be embarrassed about it.",
)
PUSHING = ("Stop complaining about it and just fix it.", "Stop complaining and go deal with it tomorrow.")


def exchange(conversation_id: str, patient: str, answer: str) -> list[TurnEvent]:
    texts = [("patient", patient), ("therapist", answer), ("patient", "ok.")]
    return [
        TurnEvent(
            event_id=f"{conversation_id}:{i}", conversation_id=conversation_id, turn_index=i, role=role, text=t, ts=NOW
        )
        for i, (role, t) in enumerate(texts)
    ]


def judged(pipeline, conversation_id: str, patient: str, answer: str, rule: str, verdict: str, corrected=None):
    turns = exchange(conversation_id, patient, answer)
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in turns]
    alerts = [a for r in scan_records(records, pipeline) for a in r.alerts if a.rule == rule]
    assert alerts, f"{rule} must fire on {answer!r} for the test to mean something"
    return {"alert": alerts[0], "verdict": verdict, "corrected": corrected, "note": "", "turns": turns}


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def p_of(rows, code: str, model: CodesModel, encoder: Encoder) -> float:
    vectors = np.stack([encoder.encode([r.text])[0] for r in rows])
    p = model.probabilities(vectors, [r.text for r in rows], [r.patient for r in rows])
    return float(p[:, CODES.index(code)].mean())


def test_a_verdict_labels_the_sentence_the_rule_read(full_pipeline, encoder):
    answer = "I hear you. " + SHAMING[0]
    kept = judged(full_pipeline, "c-kept", PATIENTS[0], answer, HARSH, "true_positive")
    rejected = judged(full_pipeline, "c-rejected", PATIENTS[0], answer, HARSH, "false_positive")
    renamed = judged(full_pipeline, "c-renamed", PATIENTS[0], answer, HARSH, "wrong_rule", corrected=ADVICE)
    unsure = judged(full_pipeline, "c-unsure", PATIENTS[0], answer, HARSH, "unsure")
    model = CodesModel.load()

    rows = verdict_sentences([kept, rejected, renamed, unsure], model, encoder)

    assert len(rows) == 3 * VERDICT_COPIES, "unsure teaches nothing"
    # One group per conversation, in the order of their ids: c-kept, c-rejected, c-renamed.
    [quoted] = [e.quote for e in kept["alert"].evidence if e.role == "therapist"]
    label = {}
    for row in rows:
        label.setdefault(row.group, set()).add(row.label)
        assert row.text == quoted and "I hear you" not in row.text, "the sentence the alert quoted, not the opener"
        assert row.patient == PATIENTS[0] and row.source == "verdict"
    kept_label, rejected_label, renamed_label = (label[group] for group in sorted(label))
    assert kept_label in ({"shame"}, {"confront"})
    assert len(rejected_label) == 1 and not rejected_label & {"shame", "confront"}
    assert renamed_label == {"persuade"}, "wrong_rule: the code of the rule the reviewer named"


def test_a_rule_that_reads_no_single_sentence_teaches_no_head(full_pipeline, encoder):
    example = judged(full_pipeline, "c-form", PATIENTS[1], "[Answer missing]", "therapist.malformed", "true_positive")
    assert verdict_sentences([example], CodesModel.load(), encoder) == []


def held(before: tuple[float | None, float | None], after: tuple[float | None, float | None], judged: int = 10):
    row = {"judged": judged, "right_to_raise": 5}
    for when, (precision, recall) in (("before", before), ("after", after)):
        row[when] = {"raised": 5, "precision": precision, "recall": recall}
    return {"per_rule": {}, "total": row}


@pytest.mark.parametrize(
    ("checked", "f1", "adopted", "why"),
    [
        (held((0.6, 1.0), (0.8, 1.0)), (0.5, 0.5), True, "precision 0.6 -> 0.8"),
        (held((0.8, 1.0), (0.7, 1.0)), (0.5, 0.6), False, "precision fell"),
        (held((0.6, 1.0), (0.9, 0.9)), (0.5, 0.5), False, "recall fell"),
        (held((0.6, 1.0), (0.9, 0.96)), (0.5, 0.5), True, "recall 1.0 -> 0.96"),
        (held((0.6, 1.0), (0.9, 1.0)), (0.5, 0.45), False, "blind F1"),
        (held((None, None), (None, None), judged=0), (0.5, 0.5), False, "nothing to check"),
    ],
)
def test_a_retrained_head_is_adopted_only_when_it_holds_up(checked, f1, adopted, why):
    decided, reason = adoption(checked, *f1)
    assert decided is adopted and why in reason


def store_verdicts(url: str, examples: list[dict]) -> None:
    store = AlertStore.open(url, clock=lambda: NOW)
    try:
        for item in examples:
            store.save_alert(item["alert"])
            store.save_turns(item["turns"])
            store.record_action(item["alert"].alert_id, "verdict", "rita", "reviewer", verdict=item["verdict"], at=NOW)
    finally:
        store.close()


def test_console_verdicts_retrain_the_codes_head_a_worker_then_loads(
    tmp_path: Path, capsys, full_pipeline, shared_data, encoder
):
    # A team whose reviewers reject these harsh-sounding answers and keep the pushing ones.
    examples = []
    for p, patient in enumerate(PATIENTS):
        for s, answer in enumerate(SHAMING):
            examples.append(judged(full_pipeline, f"c-harsh-{p}-{s}", patient, answer, HARSH, "false_positive"))
        for s, answer in enumerate(PUSHING):
            examples.append(judged(full_pipeline, f"c-push-{p}-{s}", patient, answer, ADVICE, "true_positive"))
    url = f"sqlite:///{tmp_path / 'console.db'}"
    store_verdicts(url, examples)
    export = tmp_path / "verdicts.jsonl"
    assert main(["verdicts", "export", "--db", url, "--out", str(export)]) == 0

    config = tmp_path / "turnwatch.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    out = tmp_path / "trained" / "rule_thresholds.json"
    capsys.readouterr()
    argv = ["--config", str(config), "train", "--verdicts", str(export), "--out", str(out), "--data", str(shared_data)]
    assert main([*argv, "--head-members", "1", "--head-folds", "2"]) == 0
    counselling = json.loads(capsys.readouterr().out)["heads"]["counselling"]

    harsh = counselling["held_out"]["per_rule"][HARSH]
    assert harsh["judged"] > 0 and harsh["after"]["raised"] < harsh["before"]["raised"], counselling
    assert counselling["held_out"]["per_rule"][ADVICE]["after"]["recall"] == 1.0
    assert counselling["adopted"], counselling["why"]
    head = Path(counselling["head"])
    assert head == out.parent / "counselling_head.npz" and head.is_file() and head.with_suffix(".json").is_file()
    assert not list(out.parent.glob(".*candidate*")), "the candidate is moved, not left beside it"

    # What a worker restarted with TURNWATCH_COUNSELLING_HEAD builds: the new head, reading the
    # rejected kind of sentence as less shaming than the shipped head does.
    worker = build_pipeline(load_settings(config, counselling_head=head))
    rejected = verdict_sentences(examples[:1], CodesModel.load(), encoder)
    assert p_of(rejected, "shame", CodesModel.load(head), encoder) < p_of(rejected, "shame", CodesModel.load(), encoder)
    fresh = exchange("c-new", PATIENTS[0], SHAMING[0])
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in fresh]
    assert HARSH in {a.rule for r in scan_records(records, full_pipeline) for a in r.alerts}
    assert HARSH not in {a.rule for r in scan_records(records, worker) for a in r.alerts}
