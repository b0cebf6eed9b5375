"""HTML for the console: Jinja2 templates (autoescaped) and the pieces built in Python.

Turn text, quotes, notes and every other string from an alert or a turn are untrusted: they are
escaped by the templates, or, where HTML is built here (evidence marks, the distress chart),
with ``markupsafe.escape`` before they are wrapped in ``Markup``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape

from detectors.therapist import quality
from streams.console.views import SEVERITY_RANK, AlertView, StoredTurn
from streams.contracts import DistressPoint, EvidenceItem
from streams.vocabulary import SEVERITIES as SEVERITY_NAMES
from streams.vocabulary import STATUSES

TEMPLATES = Path(__file__).resolve().parent / "templates"
SEVERITIES = tuple(reversed(SEVERITY_NAMES))  # worst first, as the pages list them
VERDICT_LABELS = {
    "true_positive": "True positive",
    "false_positive": "False positive",
    "unsure": "Unsure",
    "wrong_severity": "Right, wrong severity",
    "wrong_rule": "Right risk, wrong rule",
}
ACTION_LABELS = {
    "acknowledge": "Acknowledged",
    "resolve": "Resolved",
    "verdict": "Verdict",
    "reopen": "Reopened (escalated after review)",
    "assign": "Taken by",
}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["iso"] = iso_time
    env.filters["segment"] = path_segment
    env.filters["age"] = age
    env.globals.update(
        SEVERITIES=SEVERITIES,
        STATUSES=STATUSES,
        SEVERITY_NAMES=SEVERITY_NAMES,
        VERDICT_LABELS=VERDICT_LABELS,
        ACTION_LABELS=ACTION_LABELS,
        QUALITY_LINE=quality.LINE,
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def path_segment(value: str) -> str:
    """A value quoted for one URL path segment (``/`` included)."""
    return quote(str(value), safe="")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_time(moment: datetime | None) -> str:
    return "" if moment is None else _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(moment: datetime | None) -> str:
    return "" if moment is None else _utc(moment).isoformat()


def utc_now() -> datetime:
    return datetime.now(UTC)


def age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago, for a reviewer: "45 s", "12 min", "3 h 5 min", "2 d"."""
    if moment is None:
        return "—"
    seconds = max(0, int(((now or utc_now()) - _utc(moment)).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"


@functools.cache
def known_rules() -> tuple[str, ...]:
    """Every rule the detectors can raise (the wrong-rule verdict's choices)."""
    from detectors.registry import discover, rule_names

    return tuple(sorted(rule_names(discover().values())))


# --- evidence in place --------------------------------------------------------------------------


def _find(text: str, quote: str) -> tuple[int, int] | None:
    """Where the quote sits in the text: exact, then ignoring case (when that keeps offsets)."""
    quote = quote.strip()
    if not quote:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    lowered, lowered_quote = text.lower(), quote.lower()
    if len(lowered) == len(text) and len(lowered_quote) == len(quote):
        at = lowered.find(lowered_quote)
        if at >= 0:
            return at, at + len(quote)
    return None


def highlight(text: str, evidence: Iterable[EvidenceItem]) -> tuple[Markup, list[EvidenceItem]]:
    """The turn text, escaped, with each evidence quote found in it wrapped in <mark title=why>.

    Returns the HTML and the evidence items whose quotes were not found (shown under the turn).
    Overlapping quotes share one mark whose title lists each why.
    """
    spans: list[tuple[int, int, list[str]]] = []
    unplaced: list[EvidenceItem] = []
    for item in evidence:
        found = _find(text, item.quote)
        if found is None:
            unplaced.append(item)
        else:
            spans.append((found[0], found[1], [item.why]))
    spans.sort(key=lambda s: (s[0], -s[1]))
    merged: list[tuple[int, int, list[str]]] = []
    for start, end, whys in spans:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2] + [w for w in whys if w not in last[2]])
        else:
            merged.append((start, end, whys))
    parts: list[str] = []
    position = 0
    for start, end, whys in merged:
        parts.append(str(escape(text[position:start])))
        title = escape(" · ".join(whys))
        parts.append(f'<mark class="evidence" title="{title}">{escape(text[start:end])}</mark>')
        position = end
    parts.append(str(escape(text[position:])))
    return Markup("".join(parts)), unplaced


@dataclass
class TurnRow:
    turn: StoredTurn
    html: Markup
    unplaced: list[EvidenceItem] = field(default_factory=list)
    evidence: list[EvidenceItem] = field(default_factory=list)
    flagged: bool = False  # an alert turn or an evidence turn
    alert_turn: bool = False
    injected_note: str | None = None

    @property
    def is_system(self) -> bool:
        return self.turn.role == "system"


def timeline(view: AlertView) -> list[TurnRow]:
    """The stored turns in order, evidence marked in place, the alert's own turns flagged."""
    by_turn: dict[int, list[EvidenceItem]] = {}
    for item in view.alert.evidence:
        by_turn.setdefault(item.turn_index, []).append(item)
    flagged = set(view.alert.turns) | set(by_turn)
    rows = []
    for turn in sorted(view.turns, key=lambda t: t.turn_index):
        evidence = by_turn.get(turn.turn_index, [])
        html, unplaced = highlight(turn.text, evidence)
        note = (turn.meta or {}).get("injected_note")
        rows.append(
            TurnRow(
                turn=turn,
                html=html,
                unplaced=unplaced,
                evidence=evidence,
                flagged=turn.turn_index in flagged,
                alert_turn=turn.turn_index in view.alert.turns,
                injected_note=None if note in (None, "") else str(note),
            )
        )
    return rows


# --- the distress curve -------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT = 720, 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 46, 18, 26, 40


def _ticks(low: int, high: int, most: int = 10) -> list[int]:
    step = max(1, -(-(high - low) // most))
    first = low + (-low % step)
    return list(range(first, high + 1, step))


def distress_svg(points: Sequence[DistressPoint], alert_turns: Iterable[int] = ()) -> Markup:
    """An inline SVG line chart of distress (0..1) by turn index, the alert's turns marked.

    Only numbers go into the markup; the text is fixed. Styled by classes (the CSP allows no inline styles).
    """
    points = sorted(points, key=lambda p: p.turn_index)
    marked = sorted(set(alert_turns))
    indices = [p.turn_index for p in points] + marked
    if not points:
        return Markup("")
    low, high = min(indices), max(indices)
    if low == high:
        low, high = max(0, low - 1), high + 1
    inner_w = CHART_WIDTH - _LEFT - _RIGHT
    inner_h = CHART_HEIGHT - _TOP - _BOTTOM

    def x(turn: float) -> float:
        return _LEFT + (turn - low) / (high - low) * inner_w

    def y(score: float) -> float:
        return _TOP + (1.0 - min(1.0, max(0.0, score))) * inner_h

    peak = max(points, key=lambda p: p.score)
    description = (
        f"{len(points)} patient turn{'s' if len(points) != 1 else ''} scored between turn {points[0].turn_index} "
        f"and turn {points[-1].turn_index}; highest {peak.score:.2f} at turn {peak.turn_index}"
        + (f"; alert turns {', '.join(map(str, marked))} marked" if marked else "")
        + "."
    )
    out = [
        f'<svg class="distress-chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        'aria-labelledby="distress-title distress-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="distress-title">Patient distress by turn</title>',
        f'<desc id="distress-desc">{escape(description)}</desc>',
    ]
    for level in (0.0, 0.25, 0.5, 0.75, 1.0):
        gy = y(level)
        out.append(f'<line class="grid" x1="{_LEFT}" x2="{CHART_WIDTH - _RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>')
        out.append(f'<text class="axis-label" x="{_LEFT - 8}" y="{gy + 4:.1f}" text-anchor="end">{level:.2f}</text>')
    baseline = CHART_HEIGHT - _BOTTOM
    for tick in _ticks(low, high):
        tx = x(tick)
        out.append(f'<line class="tick" x1="{tx:.1f}" x2="{tx:.1f}" y1="{baseline}" y2="{baseline + 5}"/>')
        out.append(f'<text class="axis-label" x="{tx:.1f}" y="{baseline + 18}" text-anchor="middle">{tick}</text>')
    out.append(
        f'<text class="axis-title" x="{_LEFT + inner_w / 2:.1f}" y="{CHART_HEIGHT - 4}" text-anchor="middle">turn</text>'
    )
    for turn in marked:
        mx = x(turn)
        anchor = "end" if mx > CHART_WIDTH - _RIGHT - 24 else "start" if mx < _LEFT + 24 else "middle"
        out.append(
            f'<g class="alert-turn"><title>alert turn {turn}</title>'
            f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{_TOP - 6}" y2="{baseline}"/>'
            f'<text x="{mx:.1f}" y="{_TOP - 10}" text-anchor="{anchor}">turn {turn}</text></g>'
        )
    coordinates = " ".join(f"{x(p.turn_index):.1f},{y(p.score):.1f}" for p in points)
    out.append(f'<polyline class="distress-line" points="{coordinates}"/>')
    for p in points:
        cls = "distress-point on-alert" if p.turn_index in marked else "distress-point"
        out.append(
            f'<circle class="{cls}" cx="{x(p.turn_index):.1f}" cy="{y(p.score):.1f}" r="4">'
            f"<title>turn {p.turn_index}: {p.score:.2f}</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)
