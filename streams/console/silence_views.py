"""Silences, as in Alertmanager: hold back notifications of matching alerts for a while.

- ``GET /silences``: active and pending silences (soonest to end first), then expired ones (kept for audit).
- ``POST /silences``: create one (reviewers; CSRF): matchers (rule and detector take globs, severity and
  conversation equality), a duration, a comment (required: why).
- ``POST /silences/{silence_id}/expire``: end it now.

A silence is published on ``turnwatch.silences`` (delivery honours it; the CLI ``turnwatch silence``
writes the same events) and stored here for the page. The alerts themselves still reach the console.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web

from streams import metrics
from streams.console.auth import Identity
from streams.console.common import IDENTITY_KEY, BadInput
from streams.console.silence_store import SilenceStore
from streams.contracts import Matcher, SilenceEvent
from streams.vocabulary import SEVERITIES

log = logging.getLogger(__name__)

MATCHER_FIELDS = ("rule", "detector", "severity", "conversation_id")
DURATIONS = {"1h": 1, "4h": 4, "12h": 12, "24h": 24, "72h": 72}


def silence_from_form(form: Any, actor: str, now: Any) -> SilenceEvent:
    matchers = []
    for name in MATCHER_FIELDS:
        value = form.get(name, "")
        if not isinstance(value, str):
            raise BadInput(f"{name} must be a text field.")
        if value.strip():
            matchers.append(Matcher(name=name, value=value.strip()))  # type: ignore[arg-type]
    if not matchers:
        raise BadInput("A silence needs at least one matcher (a rule, detector, severity or conversation).")
    severity = next((m.value for m in matchers if m.name == "severity"), None)
    if severity is not None and severity not in SEVERITIES:
        raise BadInput("Severity must be info, warning, high or critical.")
    duration = form.get("duration", "")
    if duration not in DURATIONS:
        raise BadInput(f"Choose a duration: {', '.join(DURATIONS)}.")
    comment = form.get("comment", "")
    if not isinstance(comment, str) or not comment.strip():
        raise BadInput("Say why (the comment is kept with the silence).")
    try:
        return SilenceEvent(
            silence_id=uuid.uuid4().hex,
            matchers=matchers,
            created_by=actor,
            comment=comment.strip()[:1000],
            starts_at=now,
            ends_at=now + timedelta(hours=DURATIONS[duration]),
            updated_at=now,
        )
    except ValueError as exc:
        raise BadInput(f"Not a valid silence: {exc}") from None


class SilenceViews:
    def silence_store(self) -> SilenceStore:
        return SilenceStore(self.store.engine)

    async def silences_page(self, request: web.Request) -> web.StreamResponse:
        now = self.store.clock()
        listed = await self.run(self.silence_store().listing, now)
        return self.page(
            request,
            "silences.html",
            silences=listed,
            now=now,
            durations=list(DURATIONS),
            done=request.query.get("done", ""),
        )

    async def create_silence(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        try:
            silence = silence_from_form(await request.post(), identity.user, self.store.clock())
        except BadInput as exc:
            return self.error(request, 400, str(exc))
        return await self.publish_and_store(request, silence, "created")

    async def expire_silence(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        silence = await self.run(self.silence_store().get, request.match_info["silence_id"])
        if silence is None:
            return self.error(request, 404, "No silence with that id.")
        now = self.store.clock()
        if silence.ends_at <= now:
            raise web.HTTPSeeOther("/silences?done=already")
        return await self.publish_and_store(request, silence.expired(identity.user, now), "expired")

    async def publish_and_store(self, request: web.Request, silence: SilenceEvent, change: str) -> web.StreamResponse:
        try:
            await self.publish_silence(silence)
        except Exception as exc:
            log.error("silence %s not published: %s", silence.silence_id, type(exc).__name__)
            return self.error(
                request, 502, f"The silence could not be sent to delivery ({type(exc).__name__}); nothing changed."
            )
        await self.run(self.silence_store().save, silence)
        metrics.SILENCE_CHANGES.labels(change).inc()
        log.info("silence %s %s by %s", silence.silence_id, change, silence.expired_by or silence.created_by)
        raise web.HTTPSeeOther(f"/silences?done={change}")
