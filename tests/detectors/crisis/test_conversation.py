"""Risk said in pieces, through the worker's own pipeline: pieces across patient turns page once,
with every contributing turn quoted and named; repetition, supportive and third-person talk do not.
And the conversation model measured on real posts labelled by hand that it never trained on."""

import json
import os

import numpy as np
import pytest

from streams.ingest.files import Record
from streams.monitor.conversation_store import ConversationStore
from streams.tooling.scan import scan_records
from tests.detectors.crisis.test_detector import DATA

ANSWER = "Thank you for telling me. I'm listening."


def conversation(name: str, patient: list[str]) -> list[Record]:
    records = []
    for n, text in enumerate(patient):
        for offset, (role, said) in enumerate((("patient", text), ("therapist", ANSWER))):
            index = 2 * n + offset
            event = {
                "event_id": f"{name}-{index}",
                "conversation_id": name,
                "turn_index": index,
                "role": role,
                "text": said,
                "ts": f"2026-03-01T21:{index:02d}:00Z",
            }
            records.append(Record(key=name, value=json.dumps(event).encode(), ts=None))
    return records


def crisis_alerts(pipeline, name: str, patient: list[str]):
    results = list(scan_records(conversation(name, patient), pipeline))
    return results, [a for r in results for a in r.alerts if a.detector == "crisis"]


PIECES = [
    "Honestly I feel like a burden to everyone.",
    "I keep my old prescription in the drawer.",
    "I don't know how much longer I can keep going.",
]


def test_risk_said_in_pieces_pages_once_quoting_every_turn_that_contributed(full_pipeline):
    for n, piece in enumerate(PIECES):  # no piece pages on its own
        _, alone = crisis_alerts(full_pipeline, f"alone-{n}", [piece])
        assert not [a for a in alone if a.severity == "critical"], (piece, alone)
    results, alerts = crisis_alerts(full_pipeline, "pieces", PIECES)
    (page,) = [a for a in alerts if a.severity == "critical"]
    assert page.rule == "crisis.cumulative_risk" and page.turns == [0, 2, 4]
    assert [e.turn_index for e in page.evidence] == [0, 2, 4]
    assert all(e.role == "patient" and e.quote == PIECES[e.turn_index // 2] for e in page.evidence)
    why = " | ".join(e.why for e in page.evidence)
    assert "perceived burdensomeness" in why and "method considered" in why and "other suicidal language" in why, why
    assert results[4].alerts and page in results[4].alerts  # raised on the turn that tipped it


def test_the_same_moderate_sentence_said_again_and_again_does_not_page(full_pipeline):
    _, alerts = crisis_alerts(full_pipeline, "again", ["I just feel like a burden to everyone lately."] * 8)
    assert not [a for a in alerts if a.severity == "critical"], alerts


@pytest.mark.parametrize(
    "name, patient",
    [
        (
            "sister",
            [
                "My sister has been struggling a lot this winter.",
                "She says she feels hopeless and that nothing will ever change.",
                "She told me she thinks she is a burden on the family.",
                "Her doctor gave her sleeping pills and I worry about that.",
            ],
        ),
        (
            "volunteer",
            [
                "I volunteer on a peer support line on weekends.",
                "Callers often tell me they feel hopeless or like a burden.",
                "We always make sure they put pills and other means out of reach and give them the crisis number.",
                "It is tiring but I love doing it and I sleep well after.",
            ],
        ),
    ],
)
def test_supportive_and_third_person_talk_does_not_page(full_pipeline, name, patient):
    _, alerts = crisis_alerts(full_pipeline, name, patient)
    assert not [a for a in alerts if a.severity == "critical"], [(a.rule, a.summary) for a in alerts]


def test_a_clear_safety_statement_resets_what_was_gathered(full_pipeline):
    states = ConversationStore()
    calm = [*PIECES[:2], "I'm safe tonight and I would never hurt myself, I promise.", PIECES[2]]
    list(scan_records(conversation("safe", calm), full_pipeline, store=states))
    from detectors.crisis.conversation import ConversationEvidence

    memory = ConversationEvidence.from_dict(states.head("safe")["memory"]["crisis"])
    assert memory.reset_at == 4
    _, alerts = crisis_alerts(full_pipeline, "safe-again", calm)
    assert not [a for a in alerts if a.severity == "critical"]  # the last piece alone is not a page


def test_a_sentence_page_names_the_constructs_it_shows(full_pipeline):
    _, alerts = crisis_alerts(
        full_pipeline, "means", ["I counted out the pills and I'm going to take them all tonight."]
    )
    paged = [a for a in alerts if a.severity == "critical"]
    assert paged and any("lethal means" in e.why for a in paged for e in a.evidence), paged


def test_blind_posts_rank_and_page_as_measured(full_pipeline):
    """The conversation risk on the hand-labelled posts of the seeded hold-outs (never trained on)."""
    if not DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DATA} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{DATA} not present")
    from streams.tooling.realdata import evaluate_dataset

    sdcnl = evaluate_dataset("sdcnl", DATA / "sdcnl", full_pipeline).to_dict()["crisis_ranking"]
    assert sdcnl["auc"] >= 0.85 and sdcnl["worker_page"]["recall"] >= 0.75, sdcnl
    assert sdcnl["worker_page"]["precision"] >= 0.8, sdcnl
    counsel_chat = evaluate_dataset("counsel-chat", DATA / "counsel-chat", full_pipeline)
    calm = [r for r in counsel_chat.risk if r["level"] in ("none", "supportive", "indicator")]
    assert len(calm) > 150 and 100 * np.mean([r["paged"] for r in calm]) <= 4.0
