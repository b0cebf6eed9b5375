"""One way to show alerts and turns to a person: the demo's live feed, ``scan --format table``
and ``parse --format table``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from streams.ingest.files import Record

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "warning": "yellow", "info": "cyan"}
EVIDENCE_SHOWN = 2


def print_alert(console: Console, alert: Mapping[str, Any]) -> None:
    """Severity-coloured headline, then up to two evidence quotes (the reviewer's excerpts), those of
    the turn that raised the alert first."""
    style = SEVERITY_STYLE.get(alert["severity"], "")
    console.print(
        f"[{style}]{alert['severity'].upper():8}[/] {escape(alert['rule']):40} "
        f"conv={escape(alert['conversation_id'])} turns={alert['turns']}  {escape(alert['summary'])}",
        highlight=False,
        markup=True,
    )
    raised_on = max(alert["turns"], default=None)
    evidence = sorted(alert["evidence"], key=lambda item: item["turn_index"] != raised_on)
    for item in evidence[:EVIDENCE_SHOWN]:
        console.print(
            f"           ↳ turn {item['turn_index']} ({item['role']}): “{item['quote']}”",
            highlight=False,
            markup=False,
            style="dim",
        )


ROLE_STYLE = {"patient": "bold", "therapist": "", "system": "dim italic"}


def print_turns(records: Iterable[Record], console: Console | None = None) -> None:
    """The turns as a table; a record that is not a turn event shows as such, with its origin."""
    table = Table(show_lines=False, expand=False)
    for column in ("conversation", "turn", "role", "text"):
        table.add_column(column, overflow="fold", justify="right" if column == "turn" else "left")
    for record in records:
        try:
            turn = json.loads(record.value)
            row = (str(turn["conversation_id"]), str(turn["turn_index"]), str(turn["role"]), str(turn["text"]))
        except (ValueError, KeyError, TypeError):
            table.add_row(record.origin, "", "", "(not a turn event)", style="red")
            continue
        table.add_row(*row, style=ROLE_STYLE.get(row[2], ""))
    (console or Console(width=max(120, Console().width))).print(table)
