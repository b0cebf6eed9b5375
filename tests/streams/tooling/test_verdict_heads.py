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

from detectors.crisis.sentence_head import CLASSES, CrisisRiskModel
from detectors.encoder import Encoder
from detectors.therapist.codes import CODES, CodesModel
from streams.cli import main
from streams.console.store import AlertStore
from streams.contracts import Alert, TurnEvent
from streams.ingest.files import Record
from streams.monitor.build import build_pipeline
from streams.settings import load_settings
from streams.tooling.scan import scan_records
from streams.tooling.verdict_crisis import adoption as crisis_adoption
from streams.tooling.verdict_crisis import crisis_verdict_sentences
from streams.tooling.verdict_heads import VERDICT_COPIES, adoption, coded_as, verdict_sentences
from tests.factories import alert_record

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
# Crisis pages: first-person risk reviewers keep, and study talk about overdoses they reject.
AT_RISK = (
    "I have been saving my pills for weeks and tonight I am going to swallow all of them.",
    "I keep thinking about killing myself every single night now.",
    "I just want to die, I can't do this anymore.",
    "I wrote the note already and I know which bridge I will use on Friday.",
)
STUDYING = tuple(
    f"For my {subject} {what} I {how} how many pills make a lethal overdose."
    for subject in ("pharmacology", "nursing", "toxicology", "medicine")
    for what in ("exam", "course")
    for how in ("memorised", "learned")
)
METHOD = "crisis.method"


def exchange(conversation_id: str, patient: str, answer: str, after: str = "ok.") -> list[TurnEvent]:
    texts = [("patient", patient), ("therapist", answer), ("patient", after)]
    return [
        TurnEvent(
            event_id=f"{conversation_id}:{i}", conversation_id=conversation_id, turn_index=i, role=role, text=t, ts=NOW
        )
        for i, (role, t) in enumerate(texts)
    ]


def judged(pipeline, conversation_id: str, patient: str, answer: str, rule: str, verdict: str, corrected=None):
    """The first alert of ``rule`` on a patient turn, an answer and "ok.", with a verdict on it."""
    return judged_turns(pipeline, exchange(conversation_id, patient, answer), rule, verdict, corrected)


def judged_crisis(pipeline, conversation_id: str, said: str, rule: str, verdict: str, corrected=None):
    """The first alert of ``rule`` when a patient says ``said`` after an opening exchange."""
    turns = exchange(conversation_id, "Hi, I wanted to talk about something.", "Of course, I'm listening.", said)
    return judged_turns(pipeline, turns, rule, verdict, corrected)


def judged_turns(pipeline, turns: list[TurnEvent], rule: str, verdict: str, corrected=None):
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in turns]
    alerts = [a for r in scan_records(records, pipeline) for a in r.alerts if a.rule == rule]
    assert alerts, f"{rule} must fire on {turns[-2:]!r} for the test to mean something"
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
    rejected = judged(full_pipeline, "c-rejected", PATIENTS[1], answer, HARSH, "false_positive")
    renamed = judged(full_pipeline, "c-renamed", PATIENTS[2], answer, HARSH, "wrong_rule", corrected=ADVICE)
    unsure = judged(full_pipeline, "c-unsure", PATIENTS[3], answer, HARSH, "unsure")
    model = CodesModel.load()

    rows = verdict_sentences([kept, rejected, renamed, unsure], model, encoder)

    assert len(rows) == 3 * VERDICT_COPIES, "unsure teaches nothing"
    [quoted] = [e.quote for e in kept["alert"].evidence if e.role == "therapist"]
    label = {}
    for row in rows:
        label.setdefault(row.patient, set()).add(row.label)
        assert row.text == quoted and "I hear you" not in row.text, "the sentence the alert quoted, not the opener"
        assert row.source == "verdict"
    assert label[PATIENTS[0]] in ({"shame"}, {"confront"})
    assert len(label[PATIENTS[1]]) == 1 and not label[PATIENTS[1]] & {"shame", "confront"}
    assert label[PATIENTS[2]] == {"persuade"}, "wrong_rule: the code of the rule the reviewer named"
    # The same sentence, said to the same patient, kept by one reviewer and rejected by another: no label.
    disputed = judged(full_pipeline, "c-disputed", PATIENTS[0], answer, HARSH, "false_positive")
    assert verdict_sentences([kept, disputed], model, encoder) == []


def test_a_rule_that_reads_no_single_sentence_teaches_no_head(full_pipeline, encoder):
    example = judged(full_pipeline, "c-form", PATIENTS[1], "[Answer missing]", "therapist.malformed", "true_positive")
    assert verdict_sentences([example], CodesModel.load(), encoder) == []


def held(before: tuple[float | None, float | None], after: tuple[float | None, float | None], judged: int = 10):
    row = {"judged": judged, "right_to_raise": 5}
    for when, (precision, recall) in (("before", before), ("after", after)):
        row[when] = {"raised": 5, "precision": precision, "recall": recall}
    return {"per_rule": {}, "total": row}


@pytest.mark.parametrize(
    ("checked", "lost", "f1", "adopted", "why"),
    [
        (held((0.6, 1.0), (0.8, 1.0)), 0, (0.5, 0.5), True, "precision 0.6 -> 0.8"),
        (held((0.6, 1.0), (0.8, 1.0)), 1, (0.5, 0.5), False, "critical alert(s) reviewers kept"),
        (held((0.8, 1.0), (0.7, 1.0)), 0, (0.5, 0.6), False, "precision fell"),
        (held((0.6, 1.0), (0.9, 0.9)), 0, (0.5, 0.5), False, "recall fell"),
        (held((0.6, 1.0), (0.9, 0.96)), 0, (0.5, 0.5), True, "recall 1.0 -> 0.96"),
        (held((0.6, 1.0), (0.9, 1.0)), 0, (0.5, 0.45), False, "blind F1"),
        (held((None, None), (None, None), judged=0), 0, (0.5, 0.5), False, "nothing to check"),
    ],
)
def test_a_retrained_head_is_adopted_only_when_it_holds_up(checked, lost, f1, adopted, why):
    decided, reason = adoption(checked, lost, *f1)
    assert decided is adopted and why in reason


def verdict_on(rule: str, verdict: str, corrected: str | None = None) -> dict:
    return {"alert": Alert.model_validate(alert_record("c", rule, "high")), "verdict": verdict, "corrected": corrected}


def probabilities(**high: float) -> np.ndarray:
    p = np.full(len(CODES), 0.01)
    for code, value in high.items():
        p[CODES.index(code)] = value
    return p


def test_a_wrong_rule_verdict_teaches_the_named_rules_code_even_where_the_rules_share_codes():
    p = probabilities(shame=0.8, affirm=0.1)
    assert coded_as(p, verdict_on("therapist.inconsistent_pattern", "wrong_rule", HARSH)) == "shame"
    assert coded_as(p, verdict_on(HARSH, "wrong_rule", "therapist.claims_human")) is None, "says nothing of codes"
    assert coded_as(p, verdict_on(HARSH, "false_positive")) == "affirm"
    assert coded_as(p, verdict_on(HARSH, "wrong_severity")) == "shame"


def store_verdicts(url: str, examples: list[dict]) -> None:
    store = AlertStore.open(url, clock=lambda: NOW)
    try:
        for item in examples:
            store.save_alert(item["alert"])
            store.save_turns(item["turns"])
            store.record_action(item["alert"].alert_id, "verdict", "rita", "reviewer", verdict=item["verdict"], at=NOW)
    finally:
        store.close()


def test_a_crisis_verdict_labels_the_sentence_the_page_quoted(full_pipeline, encoder):
    studying = "Exams are next week. " + STUDYING[0]
    rejected = judged_crisis(full_pipeline, "k-rejected", studying, METHOD, "false_positive")
    kept = judged_crisis(full_pipeline, "k-kept", AT_RISK[0], "crisis.preparatory_behaviour", "true_positive")
    past = judged_crisis(full_pipeline, "k-past", AT_RISK[1], "crisis.active_ideation", "wrong_rule", "crisis.history")
    elsewhere = judged_crisis(full_pipeline, "k-other", AT_RISK[2], "crisis.active_ideation", "wrong_rule", HARSH)
    maybe = judged_crisis(
        full_pipeline,
        "k-maybe",
        "Sometimes I wish I could just fall asleep and not wake up.",
        "crisis.possible",
        "true_positive",
    )

    rows = crisis_verdict_sentences([rejected, kept, past, elsewhere, maybe], CrisisRiskModel.load(), encoder)

    assert [row.target for row in rows[:3]] == ["none", "preparatory", "history"]
    assert "lethal overdose" in rows[0].text and "exams are next week" not in rows[0].text.lower()
    assert len(rows) == 4, "a wrong_rule verdict naming a therapist rule says nothing about the sentence"
    assert rows[3].target in CLASSES[2:], "a kept review item: the current kind the head finds most likely"
    assert all(row.source == "verdict" and row.split == "train" for row in rows)


def real(auc: float = 0.91, recall: float = 0.85, false_pages: float = 0.5, sentence_auc: float = 0.92) -> dict:
    return {
        "sentence_blind_auc": sentence_auc,
        "sdcnl_auc": auc,
        "sdcnl_page_recall": recall,
        "cc_false_pages_per_100": false_pages,
    }


@pytest.mark.parametrize(
    ("checked", "lost", "after", "adopted", "why"),
    [
        (held((0.4, 1.0), (1.0, 1.0)), 0, real(), True, "real hold-outs held"),
        (held((0.4, 1.0), (1.0, 1.0)), 1, real(), False, "page(s) reviewers kept"),
        (held((0.4, 1.0), (1.0, 0.98)), 0, real(), False, "recall fell"),
        (held((0.8, 1.0), (0.7, 1.0)), 0, real(), False, "precision fell"),
        (held((0.4, 1.0), (1.0, 1.0)), 0, real(auc=0.90), False, "sdcnl_auc"),
        (held((0.4, 1.0), (1.0, 1.0)), 0, real(recall=0.845), False, "sdcnl_page_recall"),
        (held((0.4, 1.0), (1.0, 1.0)), 0, real(sentence_auc=0.91), False, "sentence_blind_auc"),
        (held((0.4, 1.0), (1.0, 1.0)), 0, real(false_pages=1.5), False, "false pages"),
        (held((None, None), (None, None), judged=0), 0, real(), False, "nothing to check"),
    ],
)
def test_retrained_crisis_models_are_adopted_only_when_no_page_is_lost(checked, lost, after, adopted, why):
    decided, reason = crisis_adoption(checked, lost, real(), after)
    assert decided is adopted and why in reason


def test_console_verdicts_retrain_the_heads_and_a_worker_loads_what_was_adopted(
    tmp_path: Path, capsys, full_pipeline, shared_data, encoder
):
    # A team whose reviewers reject these harsh-sounding answers and keep the pushing ones, and reject
    # pages on study talk about overdoses while keeping pages on first-person risk.
    examples = []
    for p, patient in enumerate(PATIENTS):
        for s, answer in enumerate(SHAMING):
            examples.append(judged(full_pipeline, f"c-harsh-{p}-{s}", patient, answer, HARSH, "false_positive"))
        for s, answer in enumerate(PUSHING):
            examples.append(judged(full_pipeline, f"c-push-{p}-{s}", patient, answer, ADVICE, "true_positive"))
    for k, said in enumerate(STUDYING):
        examples.append(judged_crisis(full_pipeline, f"k-study-{k}", said, METHOD, "false_positive"))
    for k, said in enumerate(AT_RISK * 3):
        page = "crisis.preparatory_behaviour" if k % 4 in (0, 3) else "crisis.active_ideation"
        examples.append(judged_crisis(full_pipeline, f"k-risk-{k}", said, page, "true_positive"))
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
    heads = json.loads(capsys.readouterr().out)["heads"]
    counselling, crisis = heads["counselling"], heads["crisis"]
    assert heads["retrained"] == [name for name in ("counselling", "crisis") if heads[name]["adopted"]]
    assert not list(out.parent.glob(".*candidate*")), "candidates are moved or removed, never left beside"

    harsh = counselling["held_out"]["per_rule"][HARSH]
    assert harsh["judged"] > 0 and harsh["after"]["raised"] < harsh["before"]["raised"], counselling
    assert counselling["held_out"]["per_rule"][ADVICE]["after"]["recall"] == 1.0
    assert counselling["adopted"], counselling["why"]
    head = Path(counselling["head"])
    assert head == out.parent / "counselling_head.npz" and head.is_file() and head.with_suffix(".json").is_file()

    # The crisis models learn the rejected pages away; they are written only if no held-out page is lost
    # and the real hold-outs hold (a one-member trial run may lose a page or a little ranking there).
    method = crisis["held_out"]["per_rule"][METHOD]
    assert method["judged"] > 0 and method["after"]["raised"] < method["before"]["raised"], crisis
    total = crisis["held_out"]["total"]
    assert not crisis["adopted"] or total["after"]["recall"] >= total["before"]["recall"], crisis
    assert crisis["adopted"] or crisis["why"]
    if crisis["adopted"]:  # what a worker restarted with the crisis settings builds still pages on risk
        models = {"crisis_head": crisis["head"], "crisis_conversation_model": crisis["conversation_model"]}
        judged_crisis(
            build_pipeline(load_settings(config, **models)), "k-new", AT_RISK[1], "crisis.active_ideation", ""
        )
    assert crisis["sentences_by_class"]["none"] > 0 and set(crisis["real_holdouts"]) == {"before", "after"}
    written = [out.parent / name for name in ("crisis_head.npz", "crisis_head.json", "crisis_conversation.json")]
    assert (
        all(path.is_file() for path in written) is crisis["adopted"]
        and any(map(Path.is_file, written)) is crisis["adopted"]
    ), crisis["why"]

    # What a worker restarted with TURNWATCH_COUNSELLING_HEAD builds: the new head, reading the
    # rejected kind of sentence as less shaming than the shipped head does.
    worker = build_pipeline(load_settings(config, counselling_head=head))
    rejected = verdict_sentences(examples[:1], CodesModel.load(), encoder)
    assert p_of(rejected, "shame", CodesModel.load(head), encoder) < p_of(rejected, "shame", CodesModel.load(), encoder)
    fresh = exchange("c-new", PATIENTS[0], SHAMING[0])
    records = [Record(key=t.conversation_id, value=t.to_json(), ts=t.ts) for t in fresh]
    assert HARSH in {a.rule for r in scan_records(records, full_pipeline) for a in r.alerts}
    assert HARSH not in {a.rule for r in scan_records(records, worker) for a in r.alerts}
