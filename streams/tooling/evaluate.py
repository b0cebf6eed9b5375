"""``turnwatch eval``: detection quality against labelled conversations, with the worker's code.

Scores (``score``), tabulates (``report_tables``) and plots (``plot_conversation``) what the pipeline raised.

Labels are JSONL, one conversation a line, naming rules and inclusive turn ranges (no text):

    {"conversation_id": "c1", "expected": [{"rule": "crisis.passive_ideation", "turns": [8, 8]}]}

An alert matches a label of the same conversation and rule whose range overlaps the alert's
turns; each label matches at most once, and an episode (alert_id) counts once whatever its
severity upgrades. Unmatched alerts are false positives, unmatched labels false negatives.
Only conversations that have a labels line are scored ("expected": [] means nothing should fire).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from streams.contracts import Alert, SeverityName
from streams.errors import TurnwatchError
from streams.ingest.files import read_records
from streams.monitor.pipeline import Pipeline
from streams.settings import closest
from streams.tooling.scan import scan_records

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.table import Table


@dataclass
class Label:
    rule: str
    first: int
    last: int


@dataclass
class ConversationRun:
    conversation_id: str
    distress: list[tuple[int, float]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    turns: int = 0


LABEL_LINE = '{"conversation_id": "c1", "expected": [{"rule": "crisis.method", "turns": [8, 8]}]}'


def load_labels(paths: Iterable[Path], known_rules: Collection[str] = ()) -> dict[str, list[Label]]:
    """Labels by conversation; a line that is not a label line, or names a rule no detector raises
    (when ``known_rules`` are given), is an error naming the file, the line and what is wrong."""
    labels: dict[str, list[Label]] = {}
    for path in paths:
        for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                found = [Label(e["rule"], int(e["turns"][0]), int(e["turns"][1])) for e in row["expected"]]
                labels[row["conversation_id"]] = found
            except KeyError as exc:
                raise TurnwatchError(f"{path}:{number}: label line without {exc}; write it like {LABEL_LINE}") from None
            except (ValueError, IndexError, TypeError) as exc:
                raise TurnwatchError(
                    f"{path}:{number}: not a label line ({type(exc).__name__}: {exc}); write it like {LABEL_LINE}"
                ) from None
            for label in found:
                if known_rules and label.rule not in known_rules:
                    close = closest(label.rule, sorted(known_rules))
                    hint = f"; did you mean {close}?" if close else " (README, Detectors, lists every rule)"
                    raise TurnwatchError(f"{path}:{number}: no detector raises rule {label.rule!r}{hint}")
    return labels


def run_conversations(
    paths: Iterable[str | Path], pipeline: Pipeline, progress: Callable[[], None] = lambda: None
) -> dict[str, ConversationRun]:
    runs: dict[str, ConversationRun] = {}
    for result in scan_records(read_records(paths), pipeline):
        progress()
        if result.event is None or not result.processed:
            continue
        run = runs.setdefault(result.event.conversation_id, ConversationRun(result.event.conversation_id))
        run.turns += 1
        if result.features.distress is not None:
            run.distress.append((result.event.turn_index, result.features.distress.score))
        run.alerts.extend(result.alerts)
    return runs


# --- matching and scoring ---------------------------------------------------------------------


def _overlaps(alert: Alert, label: Label) -> bool:
    return min(alert.turns) <= label.last and max(alert.turns) >= label.first


@dataclass
class Matching:
    """How one conversation's alert episodes (first alert of each alert_id) line up with its labels."""

    matched: list[Alert] = field(default_factory=list)  # found a label of their own: true positives
    repeats: list[Alert] = field(default_factory=list)  # another episode inside an already matched label
    false_positives: list[Alert] = field(default_factory=list)
    missed: list[Label] = field(default_factory=list)  # never raised: false negatives

    @property
    def episodes(self) -> list[Alert]:
        return self.matched + self.repeats + self.false_positives


def match_episodes(alerts: Iterable[Alert], expected: list[Label]) -> Matching:
    episodes: dict[str, Alert] = {}
    for alert in alerts:
        episodes.setdefault(alert.alert_id, alert)
    matching = Matching(missed=list(expected))
    for alert in episodes.values():
        label = next((x for x in matching.missed if x.rule == alert.rule and _overlaps(alert, x)), None)
        if label is not None:
            matching.missed.remove(label)
            matching.matched.append(alert)
        elif any(x.rule == alert.rule and _overlaps(alert, x) for x in expected):
            matching.repeats.append(alert)  # not an extra finding
        else:
            matching.false_positives.append(alert)
    return matching


@dataclass
class Counts:
    support: int = 0  # expected labels
    raised: int = 0  # alert episodes
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        self.support += other.support
        self.raised += other.raised
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def row(self) -> dict[str, float]:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {
            "support": self.support,
            "raised": self.raised,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
        }


def _counts_per_rule(expected: list[Label], matching: Matching) -> dict[str, Counts]:
    counts: dict[str, Counts] = defaultdict(Counts)
    for label in expected:
        counts[label.rule].support += 1
    for alert in matching.episodes:
        counts[alert.rule].raised += 1
    for alert in matching.matched:
        counts[alert.rule].tp += 1
    for alert in matching.false_positives:
        counts[alert.rule].fp += 1
    for label in matching.missed:
        counts[label.rule].fn += 1
    return counts


def _errors(conversation_id: str, matching: Matching) -> list[dict[str, Any]]:
    false_positives = [
        {"conversation_id": conversation_id, "rule": a.rule, "turns": a.turns, "kind": "false_positive"}
        for a in matching.false_positives
    ]
    false_negatives = [
        {
            "conversation_id": conversation_id,
            "rule": label.rule,
            "turns": [label.first, label.last],
            "kind": "false_negative",
        }
        for label in matching.missed
    ]
    return false_positives + false_negatives


def _summed(counts: Iterable[Counts]) -> Counts:
    total = Counts()
    for item in counts:
        total.add(item)
    return total


def score(runs: dict[str, ConversationRun], labels: dict[str, list[Label]]) -> dict[str, Any]:
    """Counts per rule, per detector, per conversation and in total (micro-averaged) over the labelled runs.

    Rows carry support (expected labels), raised (alert episodes), tp, fp, fn, precision, recall and f1.
    """
    per_rule: dict[str, Counts] = defaultdict(Counts)
    per_conversation: dict[str, Counts] = {}
    errors = []
    for conversation_id, expected in labels.items():
        run = runs.get(conversation_id)
        if run is None:
            continue
        matching = match_episodes(run.alerts, expected)
        rule_counts = _counts_per_rule(expected, matching)
        for rule, counts in rule_counts.items():
            per_rule[rule].add(counts)
        per_conversation[conversation_id] = _summed(rule_counts.values())
        errors.extend(_errors(conversation_id, matching))
    per_detector: dict[str, Counts] = defaultdict(Counts)
    for rule, counts in per_rule.items():
        per_detector[rule.split(".")[0]].add(counts)
    return {
        "per_rule": _rows(per_rule),
        "per_detector": _rows(per_detector),
        "total": _summed(per_rule.values()).row(),
        "per_conversation": _rows(per_conversation),
        "errors": errors,
        "conversations": sorted(per_conversation),
    }


def _rows(counts: dict[str, Counts]) -> dict[str, dict[str, float]]:
    return {name: item.row() for name, item in sorted(counts.items())}


def micro_total(rows: dict[str, dict[str, float]]) -> dict[str, float]:
    """The TOTAL row of a per-rule or per-detector table: counts summed, then the ratios from the sums."""
    keys = ("support", "raised", "tp", "fp", "fn")
    return _summed(Counts(**{k: int(row[k]) for k in keys}) for row in rows.values()).row()


def _per_100(alerts: int, turns: int) -> float:
    return round(100 * alerts / max(turns, 1), 1)


def alerts_per_100_turns(runs: dict[str, ConversationRun]) -> dict[str, float]:
    """Alerts (severity upgrades included) per 100 processed turns, per conversation."""
    return {conversation_id: _per_100(len(run.alerts), run.turns) for conversation_id, run in sorted(runs.items())}


# --- tables -------------------------------------------------------------------------------------

QUALITY_COLUMNS = ("support", "raised", "tp", "fp", "fn", "precision", "recall", "f1")
RATIOS = ("precision", "recall", "f1")


def _cell(key: str, value: float) -> str:
    return f"{value:.3f}" if key in RATIOS else str(int(value))


def _quality_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("name", justify="left", no_wrap=True)
    for column in QUALITY_COLUMNS:
        table.add_column(column, justify="right")
    for name, row in rows.items():
        table.add_row(name, *(_cell(k, row[k]) for k in QUALITY_COLUMNS))
    table.add_section()
    total = micro_total(rows)
    table.add_row("TOTAL", *(_cell(k, total[k]) for k in QUALITY_COLUMNS), style="bold")
    return table


def _conversation_table(report: dict[str, Any], runs: dict[str, ConversationRun]) -> Table:
    from rich.table import Table

    table = Table(
        title=f"alerts per conversation ({len(runs)} conversations)",
        caption="alerts: severity upgrades included; episodes: distinct alert_ids; '-': no labels",
    )
    table.add_column("conversation", justify="left", no_wrap=True)
    for column in ("turns", "alerts", "episodes", "per 100 turns", "support", "tp", "fp", "fn"):
        table.add_column(column, justify="right")
    scored = report.get("per_conversation", {})
    for conversation_id, run in sorted(runs.items()):
        row = scored.get(conversation_id)
        quality = [str(row[k]) for k in ("support", "tp", "fp", "fn")] if row else ["-"] * 4
        table.add_row(
            conversation_id,
            str(run.turns),
            str(len(run.alerts)),
            str(_episodes(run)),
            f"{_per_100(len(run.alerts), run.turns):.1f}",
            *quality,
        )
    table.add_section()
    turns = sum(run.turns for run in runs.values())
    alerts = sum(len(run.alerts) for run in runs.values())
    episodes = sum(_episodes(run) for run in runs.values())
    sums = [str(sum(int(row[k]) for row in scored.values())) for k in ("support", "tp", "fp", "fn")]
    table.add_row(
        "TOTAL", str(turns), str(alerts), str(episodes), f"{_per_100(alerts, turns):.1f}", *sums, style="bold"
    )
    return table


def _episodes(run: ConversationRun) -> int:
    return len({alert.alert_id for alert in run.alerts})


def report_tables(report: dict[str, Any], runs: dict[str, ConversationRun]) -> list[Table]:
    """Per rule and per detector quality (each with a micro-averaged TOTAL row), then alerts per conversation."""
    scored = f"{len(report['conversations'])} labelled conversations"
    return [
        _quality_table(f"detection quality, per rule ({scored})", report["per_rule"]),
        _quality_table(f"detection quality, per detector ({scored})", report["per_detector"]),
        _conversation_table(report, runs),
    ]


# --- plots --------------------------------------------------------------------------------------

SEVERITY_ORDER: tuple[str, ...] = get_args(SeverityName)  # lowest first
# A sequential palette in SEVERITY_ORDER: the worse, the darker.
SEVERITY_COLOURS = {"info": "#fdc38d", "warning": "#fd8c3b", "high": "#d84801", "critical": "#7f2704"}
EXPECTED_COLOUR = "#c6dbef"
MISSED_COLOUR = "#08306b"
DISTRESS_COLOUR = "#333333"
LANE_HEIGHT_IN = 0.34
FONT_SIZE = 8


def _lane_rules(run: ConversationRun, labels: list[Label]) -> list[str]:
    return sorted({alert.rule for alert in run.alerts} | {label.rule for label in labels})


def _last_turn(run: ConversationRun) -> int:
    """The x axis ends with the conversation; labels reaching past it are cut there."""
    turns = [run.turns - 1] + [max(a.turns) for a in run.alerts] + [turn for turn, _ in run.distress]
    return max(max(turns), 1)


def _draw_distress(axis, run: ConversationRun) -> None:
    if run.distress:
        turns, scores = zip(*run.distress)
        axis.plot(turns, scores, marker="o", markersize=3, color=DISTRESS_COLOUR, linewidth=1.4)
    axis.set_ylim(0, 1)
    axis.set_ylabel("distress", fontsize=FONT_SIZE)
    axis.grid(axis="y", color="#e6e6e6", linewidth=0.6)


def _draw_labels(axis, lane: dict[str, int], labels: list[Label], missed: list[Label], last_turn: int) -> None:
    for label in labels:
        first, last = min(label.first, last_turn), min(label.last, last_turn)
        is_missed = any(label is m for m in missed)
        axis.broken_barh(
            [(first - 0.5, last - first + 1)],
            (lane[label.rule] - 0.35, 0.7),
            facecolor=EXPECTED_COLOUR,
            edgecolor=MISSED_COLOUR if is_missed else "none",
            hatch="////" if is_missed else None,
            linewidth=0.6,
            zorder=1,
        )
        if is_missed:
            axis.plot(
                (first + last) / 2,
                lane[label.rule],
                marker="x",
                color=MISSED_COLOUR,
                markersize=8,
                markeredgewidth=2,
                linestyle="none",
                zorder=4,
            )


def _draw_alerts(axis, lane: dict[str, int], alerts: list[Alert], false_positive_ids: set[str]) -> None:
    for alert in alerts:
        y, colour = lane[alert.rule], SEVERITY_COLOURS[alert.severity]
        axis.plot([min(alert.turns), max(alert.turns)], [y, y], color=colour, linewidth=2, alpha=0.6, zorder=2)
        hollow = alert.alert_id in false_positive_ids
        axis.plot(
            max(alert.turns),
            y,
            marker="o",
            markersize=8,
            linestyle="none",
            zorder=3,
            markerfacecolor="white" if hollow else colour,
            markeredgecolor=colour if hollow else "#222222",
            markeredgewidth=2 if hollow else 0.8,
        )


def _draw_lanes(axis, rules: list[str]) -> None:
    axis.set_yticks(range(len(rules)), rules, fontsize=FONT_SIZE)
    axis.set_ylim(max(len(rules), 1) - 0.5, -0.5)  # first rule on top
    for boundary in range(len(rules) + 1):
        axis.axhline(boundary - 0.5, color="#e6e6e6", linewidth=0.6, zorder=0)
    if not rules:
        axis.text(
            0.5,
            0.5,
            "no alerts raised, none expected",
            transform=axis.transAxes,
            ha="center",
            va="center",
            fontsize=FONT_SIZE,
            color="#666666",
        )
    axis.set_xlabel("turn", fontsize=FONT_SIZE)


def _legend_entries(scored: bool) -> tuple[list, list[str]]:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    def dot(**style) -> Line2D:
        return Line2D([], [], marker="o", markersize=7, linestyle="none", **style)

    entries = [(Line2D([], [], color=DISTRESS_COLOUR, marker="o", markersize=3), "distress (patient turns)")]
    entries += [
        (dot(markerfacecolor=SEVERITY_COLOURS[s], markeredgecolor="#222222", markeredgewidth=0.8), f"{s} alert")
        for s in SEVERITY_ORDER
    ]
    entries.append((Line2D([], [], color="#999999", linewidth=2), "turns an alert covers"))
    if scored:
        missed = (
            Patch(facecolor=EXPECTED_COLOUR, edgecolor=MISSED_COLOUR, hatch="////", linewidth=0.6),
            Line2D([], [], marker="x", color=MISSED_COLOUR, markersize=7, markeredgewidth=2, linestyle="none"),
        )
        entries += [
            (dot(markerfacecolor="#999999", markeredgecolor="#222222", markeredgewidth=0.8), "alert matched a label"),
            (dot(markerfacecolor="white", markeredgecolor="#999999", markeredgewidth=2), "false positive (hollow)"),
            (Patch(facecolor=EXPECTED_COLOUR), "expected range"),
            (missed, "missed label (never raised)"),
        ]
    handles, names = zip(*entries)
    return list(handles), list(names)


def build_figure(run: ConversationRun, labels: list[Label] | None = None) -> Figure:
    """The distress curve over turns above one lane per rule with expected ranges and raised alerts.

    Without labels the alerts are drawn unscored (filled); with them (the conversation's own, possibly
    empty) false positives are hollow and missed labels hatched with an 'x'. The legend sits right of both
    axes and the figure is laid out (constrained) so that nothing overlaps and rule names are never cut.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scored = labels is not None
    labels = labels or []
    rules = _lane_rules(run, labels)
    lane = {rule: index for index, rule in enumerate(rules)}
    matching = match_episodes(run.alerts, labels) if scored else Matching()
    lanes_height = LANE_HEIGHT_IN * max(len(rules), 1) + 0.4  # inches, so that lanes never squeeze their names
    figure = Figure(figsize=(11, max(2.2 + lanes_height, 4.2)), layout="constrained")
    FigureCanvasAgg(figure)
    distress_axis, lanes_axis = figure.subplots(2, 1, sharex=True, height_ratios=[1.6, lanes_height])
    _draw_distress(distress_axis, run)
    last_turn = _last_turn(run)
    _draw_labels(lanes_axis, lane, labels, matching.missed, last_turn)
    _draw_alerts(lanes_axis, lane, run.alerts, {a.alert_id for a in matching.false_positives})
    _draw_lanes(lanes_axis, rules)
    lanes_axis.set_xlim(-0.5, last_turn + 0.5)
    lanes_axis.xaxis.get_major_locator().set_params(integer=True)
    for axis in (distress_axis, lanes_axis):
        axis.tick_params(labelsize=FONT_SIZE)
    handles, names = _legend_entries(scored)
    figure.legend(handles, names, loc="outside right upper", fontsize=FONT_SIZE, frameon=False)
    figure.suptitle(f"{run.conversation_id}: {run.turns} turns, {len(run.alerts)} alerts", fontsize=FONT_SIZE + 1)
    return figure


def plot_conversation(run: ConversationRun, path: Path, labels: list[Label] | None = None) -> None:
    build_figure(run, labels).savefig(path, dpi=110, bbox_inches="tight")
