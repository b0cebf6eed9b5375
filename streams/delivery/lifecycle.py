"""An alert's on-call life as delivery sees it: open, acknowledged, resolved, and who was paged.

One record per alert in the ``lifecycle`` table (changelogged, in the partition of the alert's
conversation). It holds the newest copy of the alert that was sent out, its status with who
set it and the console action that did, and the receivers that were paged and take updates
(PagerDuty, Slack with a bot token). When a reviewer acknowledges or resolves the alert in the
console, each of those receivers gets the update; a receiver paged later (a trigger still in
retry, an escalation step) gets the current status right after its trigger, so none is left
showing an open incident that a reviewer already handled.

An episode raised again at a higher severity reopens the alert, as the console does: its
acknowledgement was for less evidence than there is now. The functions here are the decisions,
free of Faust: each takes the stored record (or None) and returns the record to store.
"""

from __future__ import annotations

from typing import Any

from streams.contracts import Alert, VerdictEvent
from streams.vocabulary import SEVERITIES, STATUSES

# The console actions that move an alert along, and the status each leads to.
MOVES = {"acknowledge": "acknowledged", "resolve": "resolved"}
ACTION_FOR = {status: action for action, status in MOVES.items()}


def track(previous: dict[str, Any] | None, alert: Alert) -> dict[str, Any]:
    """The record for an alert being sent out: the newest copy of the alert; reopened when it
    comes back at a higher severity than the one its status was set at."""
    entry = previous or {"status": "open", "by": None, "action_id": None, "receivers": []}
    entry = {**entry, "alert": alert.model_dump(mode="json")}
    known = entry.get("severity")
    if known is not None and SEVERITIES.index(alert.severity) > SEVERITIES.index(known):
        entry.update(status="open", by=None, action_id=None)
    entry["severity"] = alert.severity if known is None else max(known, alert.severity, key=SEVERITIES.index)
    return entry


def apply_verdict(previous: dict[str, Any] | None, verdict: VerdictEvent) -> tuple[dict[str, Any], bool]:
    """Move the alert along: open → acknowledged → resolved (resolving may skip acknowledging).
    A move backwards or to the same status (a second acknowledgement, the same event delivered
    twice) changes nothing. Returns (record, moved). A verdict for an alert delivery has not sent
    yet is kept, so the page that follows carries it at once."""
    entry = previous or {"alert": None, "status": "open", "by": None, "action_id": None, "receivers": []}
    target = MOVES.get(verdict.action)
    if target is None or STATUSES.index(target) <= STATUSES.index(entry["status"]):
        return entry, False
    if entry.get("severity") is not None and SEVERITIES.index(verdict.severity) < SEVERITIES.index(entry["severity"]):
        return entry, False  # about an earlier, lower severity: the alert was reopened since
    moved = {**entry, "status": target, "by": verdict.actor, "action_id": verdict.action_id}
    # The console may have seen a higher severity than delivery has yet: the status holds up to it.
    moved["severity"] = max(entry.get("severity") or verdict.severity, verdict.severity, key=SEVERITIES.index)
    return moved, True


def add_receiver(entry: dict[str, Any], receiver: str) -> dict[str, Any]:
    if receiver in entry["receivers"]:
        return entry
    return {**entry, "receivers": [*entry["receivers"], receiver]}


def pending_update(entry: dict[str, Any] | None) -> str | None:
    """The update a newly paged receiver still needs ('acknowledge' or 'resolve'), if any."""
    if entry is None or entry["status"] == "open":
        return None
    return ACTION_FOR[entry["status"]]


def superseded(entry: dict[str, Any] | None, action: str, severity: str) -> bool:
    """Whether a notice for this alert was overtaken while it waited in the retry topic, so that
    sending it now would turn the receiver's view back: a page or acknowledgement after the
    alert was resolved (a page then would open a new PagerDuty incident), or anything about a
    lower severity than the alert has reached (its own notice follows or went out already)."""
    if entry is None:
        return False
    if SEVERITIES.index(severity) < SEVERITIES.index(entry.get("severity") or severity):
        return True
    return action in ("trigger", "acknowledge") and entry["status"] == "resolved"
