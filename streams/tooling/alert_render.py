"""One way to show an alert to a person: the demo's live feed and ``scan --format table``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "warning": "yellow", "info": "cyan"}
EVIDENCE_SHOWN = 2


def print_alert(console: Console, alert: Mapping[str, Any]) -> None:
    """Severity-coloured headline, then up to two evidence quotes (the reviewer's excerpts)."""
    style = SEVERITY_STYLE.get(alert["severity"], "")
    console.print(
        f"[{style}]{alert['severity'].upper():8}[/] {escape(alert['rule']):40} "
        f"conv={escape(alert['conversation_id'])} turns={alert['turns']}  {escape(alert['summary'])}",
        highlight=False,
        markup=True,
    )
    for item in alert["evidence"][:EVIDENCE_SHOWN]:
        console.print(
            f"           ↳ turn {item['turn_index']} ({item['role']}): “{item['quote']}”",
            highlight=False,
            markup=False,
            style="dim",
        )
