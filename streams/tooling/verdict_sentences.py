"""What the head-retraining paths share: finding the sentence an alert quoted, keeping only the labels
reviewers agree on, and counting the critical alerts a retrained model would no longer raise."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from streams.monitor.pipeline import Pipeline
from streams.tooling.verdict_eval import reraised, right_to_raise
from streams.tooling.verdict_training import check_held_out

Row = TypeVar("Row")
CUT = "…"  # how ``detectors.findings.excerpt`` ends a quote it shortened


def flat(text: str) -> str:
    """Whitespace as ``excerpt`` writes it: single spaces, no line breaks."""
    return " ".join(text.split())


def quoted_span(quotes: Iterable[str], text: str, spans: Sequence[tuple[int, int]]) -> int | None:
    """Which of ``spans`` of ``text`` a quote is: the same words, or (for a quote cut short with "…")
    the sentence it begins. None when no quote is one of them (a redacted quote, a quote of a whole
    line across sentences)."""
    sentences = [flat(text[a:b]) for a, b in spans]
    for quote in (flat(q) for q in quotes):
        if not quote:
            continue
        if quote in sentences:
            return sentences.index(quote)
        if quote.endswith(CUT):
            start = quote[: -len(CUT)].strip()
            found = [k for k, sentence in enumerate(sentences) if start and sentence.startswith(start)]
            if found:
                return found[0]
    return None


def agreed(rows: Iterable[Row], key: Callable[[Row], Hashable], label: Callable[[Row], str]) -> list[Row]:
    """One row per key, and none for a key whose rows carry different labels (reviewers disagree)."""
    first: dict[Hashable, Row] = {}
    labels: dict[Hashable, set[str]] = {}
    for row in rows:
        first.setdefault(key(row), row)
        labels.setdefault(key(row), set()).add(label(row))
    return [row for k, row in first.items() if len(labels[k]) == 1]


def critical_lost(held: Sequence[Mapping[str, Any]], before: Pipeline, after: Pipeline) -> int:
    """Held-out alerts reviewers kept that were critical and that ``before`` raises again but ``after``
    does not: pages a retrained model would miss."""
    lost = 0
    for example in held:
        if example["alert"].severity != "critical" or not right_to_raise(example):
            continue
        if reraised(example, before) is not None and reraised(example, after) is None:
            lost += 1
    return lost


def check_family(
    held: Sequence[Mapping[str, Any]], prefix: str, before: Pipeline, after: Pipeline
) -> tuple[dict[str, Any], int]:
    """The held-out check over every rule whose name starts with ``prefix`` (a retrained head feeds more
    rules than those that teach it), and the critical alerts reviewers kept it would lose."""
    family = [e for e in held if e["alert"].rule.startswith(prefix)]
    return check_held_out(family, before, after), critical_lost(family, before, after)
