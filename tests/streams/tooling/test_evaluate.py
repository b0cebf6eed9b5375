import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from matplotlib.colors import to_rgb
from matplotlib.text import Text

from streams.contracts import Alert
from streams.errors import TurnwatchError
from streams.examples import EXAMPLES_DIR, LABELS_DIR
from streams.tooling.evaluate import (
    SEVERITY_COLOURS,
    SEVERITY_ORDER,
    ConversationRun,
    Label,
    alerts_per_100_turns,
    build_figure,
    load_labels,
    plot_conversation,
    report_tables,
    score,
)


def alert(conversation, rule, turns, alert_id=None, severity="warning"):
    return Alert(
        alert_id=alert_id or f"{conversation}-{rule}-{turns[0]}",
        conversation_id=conversation,
        detector=rule.split(".")[0],
        rule=rule,
        severity=severity,
        turns=turns,
        evidence=[],
        score=0.5,
        summary="s",
        suggested_action="a",
        created_at=datetime.now(UTC),
        detector_version="t",
    )


def test_scoring_matches_overlapping_ranges_and_counts_episodes_once():
    runs = {
        "c": ConversationRun(
            "c",
            alerts=[
                alert("c", "loop.cycle", [3, 4, 5]),
                alert(
                    "c", "loop.cycle", [3, 4, 5, 6], alert_id="c-loop.cycle-3", severity="high"
                ),  # same episode, upgraded
                alert("c", "therapist.malformed", [9]),  # not expected
                alert("c", "crisis.method", [20]),  # outside the range
            ],
            turns=30,
        ),
        "unlabelled": ConversationRun("unlabelled", alerts=[alert("unlabelled", "loop.cycle", [1])]),
    }
    labels = {"c": [Label("loop.cycle", 5, 8), Label("crisis.method", 10, 12), Label("distress.escalating", 0, 4)]}
    report = score(runs, labels)
    rules = report["per_rule"]
    assert rules["loop.cycle"] == {
        "support": 1,
        "raised": 1,
        "tp": 1,
        "fp": 0,
        "fn": 0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    assert (rules["therapist.malformed"]["fp"], rules["crisis.method"]["fp"], rules["crisis.method"]["fn"]) == (1, 1, 1)
    assert rules["distress.escalating"]["fn"] == 1
    assert report["per_detector"]["loop"]["tp"] == 1 and report["conversations"] == ["c"]


def test_shipped_labels_load_and_cover_every_example():
    labels = load_labels([LABELS_DIR / "expected.jsonl"])
    assert len(labels) == len(list(EXAMPLES_DIR.iterdir()))


def test_eval_command_writes_a_report_and_plots(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "eval", str(EXAMPLES_DIR), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["per_detector"]["crisis"]["recall"] >= 0.8
    assert len(list((tmp_path / "plots").glob("*.png"))) == len(list(EXAMPLES_DIR.iterdir()))
    assert "per rule" in done.stdout and "therapist.malformed" in done.stdout


def two_labelled_conversations():
    runs = {
        "a": ConversationRun(
            "a",
            turns=20,
            alerts=[
                alert("a", "loop.cycle", [6]),  # tp
                alert("a", "loop.cycle", [6, 7], severity="high"),  # the same episode, upgraded
                alert("a", "crisis.method", [15]),  # fp: the label is at 10-12
            ],
        ),
        "b": ConversationRun(
            "b",
            turns=10,
            alerts=[
                alert("b", "crisis.method", [3], severity="critical"),  # tp
                alert("b", "loop.cycle", [7]),  # tp
                alert("b", "therapist.malformed", [8]),  # fp
                alert("b", "therapist.malformed", [9], alert_id="b-second"),  # fp, a second episode
            ],
        ),
        "unlabelled": ConversationRun("unlabelled", turns=4, alerts=[alert("unlabelled", "loop.cycle", [1])]),
    }
    labels = {
        "a": [Label("loop.cycle", 5, 8), Label("crisis.method", 10, 12)],
        "b": [Label("crisis.method", 2, 3), Label("distress.escalating", 0, 4), Label("loop.cycle", 7, 7)],
    }
    return runs, labels


def last_row(table):
    return [list(column.cells)[-1] for column in table.columns]


def test_support_counts_expected_labels_and_raised_counts_episodes():
    runs, labels = two_labelled_conversations()
    rules = score(runs, labels)["per_rule"]
    assert {rule: (row["support"], row["raised"]) for rule, row in rules.items()} == {
        "crisis.method": (2, 2),
        "distress.escalating": (1, 0),
        "loop.cycle": (2, 2),
        "therapist.malformed": (0, 2),
    }


def test_total_row_is_micro_averaged_over_the_summed_counts():
    runs, labels = two_labelled_conversations()
    report = score(runs, labels)
    # macro-averaged precision over the rules would be (1 + 0.5 + 0 + 0) / 4; micro is 3 / 6
    expected = {"support": 5, "raised": 6, "tp": 3, "fp": 3, "fn": 2, "precision": 0.5, "recall": 0.6, "f1": 0.545}
    assert report["total"] == expected
    assert report["per_conversation"]["a"] == {
        "support": 2,
        "raised": 2,
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
    }
    per_rule, per_detector, per_conversation = report_tables(report, runs)
    total_cells = ["TOTAL", "5", "6", "3", "3", "2", "0.500", "0.600", "0.545"]
    assert [c.header for c in per_rule.columns] == [
        "name",
        "support",
        "raised",
        "tp",
        "fp",
        "fn",
        "precision",
        "recall",
        "f1",
    ]
    assert last_row(per_rule) == total_cells and last_row(per_detector) == total_cells
    assert list(per_rule.columns[0].cells)[:-1] == sorted(report["per_rule"])
    assert list(per_detector.columns[0].cells)[:-1] == ["crisis", "distress", "loop", "therapist"]
    # 34 turns, 8 alerts in 7 episodes: 23.5 alerts per 100; the unlabelled conversation counts but is not scored
    assert last_row(per_conversation) == ["TOTAL", "34", "8", "7", "23.5", "5", "3", "3", "2"]
    assert [list(c.cells)[2] for c in per_conversation.columns] == [
        "unlabelled",
        "4",
        "1",
        "1",
        "25.0",
        "-",
        "-",
        "-",
        "-",
    ]


def test_alerts_per_100_turns_counts_every_alert_of_every_conversation():
    runs, _ = two_labelled_conversations()
    assert alerts_per_100_turns(runs) == {"a": 15.0, "b": 40.0, "unlabelled": 25.0}


def test_severity_palette_darkens_with_severity():
    assert SEVERITY_ORDER == ("info", "warning", "high", "critical")
    lightness = [sum(to_rgb(SEVERITY_COLOURS[s])) for s in SEVERITY_ORDER]
    assert lightness == sorted(lightness, reverse=True) and len(set(lightness)) == len(lightness)


RULES = [
    "crisis.intent_or_plan",
    "crisis.method",
    "distress.escalating",
    "loop.cycle",
    "therapist.out_of_conversation_promise",
]


@pytest.fixture
def busy_run():
    run = ConversationRun(
        "c",
        turns=30,
        distress=[(t, (t % 7) / 7) for t in range(0, 30, 2)],
        alerts=[
            alert("c", "loop.cycle", [3, 4, 5], severity="info"),
            alert("c", "loop.cycle", [3, 4, 5, 6], alert_id="c-loop.cycle-3", severity="high"),  # upgrade, matched
            alert("c", "therapist.out_of_conversation_promise", [9]),  # false positive
            alert("c", "crisis.intent_or_plan", [20], severity="critical"),  # matched
            alert("c", "crisis.method", [21], severity="critical"),  # false positive
        ],
    )
    labels = [
        Label("loop.cycle", 5, 8),
        Label("crisis.method", 10, 12),
        Label("distress.escalating", 0, 4),
        Label("crisis.intent_or_plan", 19, 22),
    ]
    return run, labels


def visible_texts(figure):
    renderer = figure.canvas.get_renderer()
    texts = [
        t
        for t in figure.findobj(Text)
        if t.get_visible()
        and t.get_text()
        and t.figure is figure
        and not any(t is inner for legend in figure.legends for inner in legend.get_texts())
    ]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def test_plot_lanes_carry_full_rule_names_and_the_legend_stays_off_the_data(busy_run):
    run, labels = busy_run
    figure = build_figure(run, labels)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    lanes_axis = figure.axes[1]
    assert [t.get_text() for t in lanes_axis.get_yticklabels()] == RULES
    (legend,) = figure.legends
    legend_box = legend.get_window_extent(renderer)
    for axis in figure.axes:
        assert not legend_box.overlaps(axis.get_window_extent(renderer))
    boxes = visible_texts(figure)
    assert {name for name, _ in boxes} >= set(RULES)
    for name, box in boxes:
        assert not legend_box.overlaps(box), name
        assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1, f"{name} cut at the figure edge"
    for index, (first, first_box) in enumerate(boxes):
        for second, second_box in boxes[index + 1 :]:
            assert not first_box.overlaps(second_box), (first, second)


def lane_markers(axis, marker):
    return [line for line in axis.get_lines() if line.get_marker() == marker and line.get_linestyle() == "None"]


def test_plot_marks_matched_false_positive_and_missed_differently(busy_run):
    run, labels = busy_run
    lanes_axis = build_figure(run, labels).axes[1]
    dots = lane_markers(lanes_axis, "o")
    hollow = [line for line in dots if line.get_markerfacecolor() == "white"]
    filled = [line for line in dots if line.get_markerfacecolor() != "white"]
    assert sorted(line.get_xdata()[0] for line in hollow) == [9, 21]
    assert sorted(line.get_xdata()[0] for line in filled) == [5, 6, 20]
    assert {to_rgb(line.get_markerfacecolor()) for line in filled} == {
        to_rgb(SEVERITY_COLOURS[s]) for s in ("info", "high", "critical")
    }
    missed = lane_markers(lanes_axis, "x")
    assert sorted((line.get_xdata()[0], line.get_ydata()[0]) for line in missed) == [
        (2, RULES.index("distress.escalating")),
        (11, RULES.index("crisis.method")),
    ]


def test_plot_cuts_labels_reaching_past_the_conversation(busy_run):
    run, labels = busy_run
    lanes_axis = build_figure(run, [*labels, Label("loop.patient_refrain", 25, 500)]).axes[1]
    assert lanes_axis.get_xlim() == (-0.5, 29.5)
    (missed,) = [line for line in lane_markers(lanes_axis, "x") if line.get_xdata()[0] > 12]
    assert missed.get_xdata()[0] == 27


def test_plot_without_labels_draws_every_alert_filled(busy_run):
    run, _ = busy_run
    lanes_axis = build_figure(run).axes[1]
    assert all(line.get_markerfacecolor() != "white" for line in lane_markers(lanes_axis, "o"))
    assert not lane_markers(lanes_axis, "x")
    assert [t.get_text() for t in lanes_axis.get_yticklabels()] == sorted({a.rule for a in run.alerts})


def test_plot_conversation_writes_a_png(busy_run, tmp_path):
    run, labels = busy_run
    plot_conversation(run, tmp_path / "c.png", labels)
    plot_conversation(ConversationRun("quiet", turns=3), tmp_path / "quiet.png")
    for name in ("c.png", "quiet.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_label_naming_a_rule_no_detector_raises_is_an_error_with_the_closest_rule(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"conversation_id": "c1", "expected": [{"rule": "crisis.methd", "turns": [2, 3]}]}\n')
    with pytest.raises(
        TurnwatchError, match=r"labels.jsonl:1: no detector raises rule 'crisis.methd'; did you mean crisis.method\?"
    ):
        load_labels([labels], known_rules={"crisis.method", "crisis.self_harm"})


def test_a_label_line_missing_a_field_says_which_and_how_to_write_it(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"conversation_id": "c1"}\n')
    with pytest.raises(TurnwatchError, match=r"labels.jsonl:1: label line without 'expected'; write it like \{"):
        load_labels([labels])
