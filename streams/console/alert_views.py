"""An alert and what reviewers do with it.

- ``GET /alerts/{alert_id}``: the alert (timeline, evidence in place, distress curve, session quality),
  the conversation's other alerts, the action bar (kept in view while the page scrolls), the audit log.
  Keys (``alert.js``): ``a`` acknowledge, ``r`` resolve, ``t`` take, ``v`` verdict, ``n``/``p`` the
  conversation's next/previous alert, ``q`` back to the queue.
- ``POST /alerts/{alert_id}/actions``: acknowledge | resolve | verdict | assign (reviewers; CSRF).
  A verdict may say the alert was right but at the wrong severity or under the wrong rule, naming the
  right one. Each action is audited, sent to ``turnwatch.verdicts`` (delivery acknowledges or resolves
  the page in PagerDuty and updates the Slack message) and counted; the first acknowledgement and the
  resolution are timed from the alert (``turnwatch_time_to_acknowledge_seconds``, ``…_resolve_…``).
- ``POST /conversations/{conversation_id}/acknowledge``: acknowledge every open alert of a conversation.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from aiohttp import web

from streams import metrics
from streams.console import pages
from streams.console.auth import Identity
from streams.console.common import IDENTITY_KEY, BadInput, aware, summary_of
from streams.console.views import SEVERITY_RANK, ActionRecord, AlertView
from streams.contracts import MAX_NOTE_CHARS, VerdictEvent
from streams.vocabulary import CORRECTED_VERDICTS, REVIEW_ACTIONS, SEVERITIES, VERDICTS

log = logging.getLogger(__name__)

DONE_NOTICES = {
    "acknowledge": "Acknowledged. Recorded in the audit log and sent to the verdicts topic (paging receivers are told).",
    "resolve": "Resolved. Recorded in the audit log and sent to the verdicts topic (paging receivers are told).",
    "verdict": "Verdict recorded in the audit log and sent to the verdicts topic.",
    "assign": "You have taken this alert.",
    "acknowledge_all": "Every open alert of this conversation is acknowledged.",
}


def conversation_neighbours(view: AlertView) -> dict[str, Any]:
    """Where this alert sits among its conversation's alerts, in the order the page lists them (worst, then
    newest first): its position, the previous and the next alert (``p``/``n``), None at either end."""
    current = summary_of(view)
    ordered = sorted(
        [current, *view.conversation_alerts],
        key=lambda a: (-SEVERITY_RANK[a.severity], -aware(a.created_at).timestamp(), a.alert_id),
    )
    at = next(i for i, a in enumerate(ordered) if a.alert_id == current.alert_id)
    return {
        "position": at + 1,
        "previous_alert": ordered[at - 1] if at > 0 else None,
        "next_alert": ordered[at + 1] if at + 1 < len(ordered) else None,
    }


class AlertViews:
    async def alert_page(self, request: web.Request) -> web.StreamResponse:
        alert_id = request.match_info["alert_id"]
        view = await self.run(self.store.alert, alert_id)
        if view is None:
            return self.error(request, 404, "No alert with that id is stored (it may be past the retention period).")
        return self.page(
            request,
            "alert.html",
            view=view,
            rows=pages.timeline(view),
            distress_chart=pages.distress_svg(view.alert.distress, view.alert.turns),
            notice=DONE_NOTICES.get(request.query.get("done", "")),
            max_note=MAX_NOTE_CHARS,
            rules=pages.known_rules(),
            **conversation_neighbours(view),
        )

    @staticmethod
    def parse_action(form: Any, identity: Identity) -> tuple[str, str | None, str, str | None]:
        def field(name: str) -> str:
            value = form.get(name, "")
            if not isinstance(value, str):
                raise BadInput(f"{name} must be a text field.")
            return value

        action, verdict, note = field("action").strip(), field("verdict").strip(), field("note")
        note = note.replace("\r\n", "\n").strip()
        detail: str | None = None
        if action not in REVIEW_ACTIONS:
            raise BadInput("Unknown action: use acknowledge, resolve, verdict or assign.")
        if action == "verdict":
            if verdict not in VERDICTS:
                raise BadInput("Choose a verdict.")
            if verdict in CORRECTED_VERDICTS:
                detail = field("corrected").strip()
                if verdict == "wrong_severity" and detail not in SEVERITIES:
                    raise BadInput("Wrong severity: choose the severity it should have had.")
                if verdict == "wrong_rule" and not detail:
                    raise BadInput("Wrong rule: name the rule it should have been.")
        elif verdict:
            raise BadInput("A verdict is recorded with the verdict action only.")
        if action == "assign":
            detail = field("assignee").strip() or identity.user
        if len(note) > MAX_NOTE_CHARS:
            raise BadInput(f"The note is {len(note)} characters; the limit is {MAX_NOTE_CHARS}.")
        return action, verdict or None, note, detail

    async def act(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        alert_id = request.match_info["alert_id"]
        try:
            action, verdict, note, detail = self.parse_action(await request.post(), identity)
        except BadInput as exc:
            return self.error(request, 400, str(exc))

        def record() -> tuple[ActionRecord, AlertView | None, AlertView | None]:
            before = self.store.alert(alert_id)
            done = self.store.record_action(
                alert_id, action, identity.user, identity.role, verdict=verdict, note=note, detail=detail
            )
            return done, before, self.store.alert(alert_id)

        try:
            done, before, view = await self.run(record)
        except KeyError:
            return self.error(request, 404, "No alert with that id is stored; nothing was recorded.")
        except ValueError as exc:
            return self.error(request, 400, f"Not recorded: {exc}")
        if view is None:  # deleted (retention) between the calls
            return self.error(request, 404, "The alert was deleted while the action was recorded.")
        failure = await self.after_action(identity, done, before, view)
        if failure is not None:
            return self.error(request, 502, failure)
        raise web.HTTPSeeOther(f"/alerts/{quote(alert_id, safe='')}?done={action}")

    async def acknowledge_conversation(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        conversation_id = request.match_info["conversation_id"]
        back = (await request.post()).get("back", "")

        def record() -> list[tuple[ActionRecord, AlertView | None, AlertView | None]]:
            views = {a.alert_id: self.store.alert(a.alert_id) for a in self.store.open_alerts_of(conversation_id)}
            done = self.store.acknowledge_conversation(conversation_id, identity.user, identity.role)
            return [(d, views.get(d.alert_id), self.store.alert(d.alert_id)) for d in done]

        results = await self.run(record)
        failures = [f for d, b, v in results if v is not None and (f := await self.after_action(identity, d, b, v))]
        if failures:
            return self.error(request, 502, failures[0])
        target = back if isinstance(back, str) and back.startswith("/alerts/") else "/"
        raise web.HTTPSeeOther(f"{target.split('?')[0]}?done=acknowledge_all")

    async def after_action(
        self, identity: Identity, done: ActionRecord, before: AlertView | None, view: AlertView
    ) -> str | None:
        """Log, count and time the action, tell the live feed, publish the verdict event; the message to
        show when publishing failed (the action stays recorded), else None."""
        alert = view.alert
        log.info(
            "console action %s on alert %s by %s",
            done.action,
            alert.alert_id,
            identity.user,
            extra={"alert_id": alert.alert_id, "action": done.action, "actor": identity.user},
        )
        log.debug("console action %s note: %s", done.action_id, done.note)
        metrics.CONSOLE_ACTIONS.labels(done.action).inc()
        if done.action == "verdict":
            metrics.VERDICTS.labels(alert.rule, done.verdict).inc()
        seconds = max(0.0, (aware(done.at) - aware(alert.created_at)).total_seconds())
        if done.action == "acknowledge" and before is not None and before.status == "open":
            metrics.TIME_TO_ACKNOWLEDGE.labels(alert.severity).observe(seconds)
        if done.action == "resolve" and before is not None and before.status != "resolved":
            metrics.TIME_TO_RESOLVE.labels(alert.severity).observe(seconds)
        self.feed.publish(summary_of(view))
        try:
            await self.publish_verdict(
                VerdictEvent(
                    action_id=done.action_id,
                    alert_id=alert.alert_id,
                    conversation_id=alert.conversation_id,
                    detector=alert.detector,
                    rule=alert.rule,
                    severity=alert.severity,
                    action=done.action,
                    verdict=done.verdict,
                    corrected=done.detail if done.action == "verdict" else None,
                    assignee=done.detail if done.action == "assign" else None,
                    note=done.note,
                    actor=identity.user,
                    role="reviewer",
                    at=aware(done.at),
                )
            )
        except Exception as exc:  # an invalid event, the broker down, a timeout, ...
            log.error(
                "console action %s on alert %s recorded but not published to the verdicts topic: %s",
                done.action_id,
                alert.alert_id,
                type(exc).__name__,
                extra={"alert_id": alert.alert_id, "action": done.action, "actor": identity.user},
            )
            return (
                "Your action is recorded in the audit log, but it could not be sent to the verdicts topic "
                f"({type(exc).__name__}). Do not repeat it; tell the on-call engineer."
            )
        return None
