"""What the console's web modules share: request keys, limits, headers, the live-feed event format."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from streams.console.auth import Identity
from streams.console.views import AlertSummary, AlertView
from streams.contracts import SilenceEvent, VerdictEvent

MAX_FILTER_CHARS = 200
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

PublishVerdict = Callable[[VerdictEvent], Awaitable[None]]
PublishSilence = Callable[[SilenceEvent], Awaitable[None]]

IDENTITY_KEY = web.RequestKey("turnwatch.identity", Identity)
NEXT_KEY = web.RequestKey("turnwatch.next", str)


def safe_next(value: str | None) -> str:
    """A local path to return to after sign-in; anything else (another site, odd characters) is /."""
    if (
        not value
        or len(value) > 2000
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        return "/"
    return value


def summary_of(view: AlertView) -> AlertSummary:
    alert = view.alert
    return AlertSummary(
        alert_id=alert.alert_id,
        conversation_id=alert.conversation_id,
        detector=alert.detector,
        rule=alert.rule,
        severity=alert.severity,
        summary=alert.summary,
        created_at=alert.created_at,
        status=view.status,
        verdict=view.verdict,
        assignee=view.assignee,
    )


def sse_event(summary: AlertSummary) -> bytes:
    """One ``alert`` event; the JSON is ASCII on one line, so it cannot break the framing."""
    return b"event: alert\ndata: " + json.dumps(summary.to_dict(), separators=(",", ":")).encode() + b"\n\n"


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class BadInput(Exception):
    """A request the console refuses with 400; the message is shown to the user."""
