"""The queue and the alert feed: what a reviewer sees first.

- ``GET /`` the queue: one row per conversation (worst severity, open alerts, how long it has waited,
  newest activity, assignees), open conversations by default, worst severity first and then the one
  waiting longest. Rows refresh in place when the live feed says something changed (``queue.js``);
  ``j``/``k`` move, ``Enter`` opens.
- ``GET /queue/rows`` the queue's rows alone (what ``queue.js`` fetches).
- ``GET /alerts`` every alert, one row each, critical first then newest (``feed.js`` inserts new ones live).
- ``GET /events`` the live feed (server-sent events).

Filters on both: severity (repeatable), detector, rule (a glob like the delivery routes take,
``therapist.*``), status.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from streams.console import pages
from streams.console.auth import Identity
from streams.console.common import IDENTITY_KEY, MAX_FILTER_CHARS, SECURITY_HEADERS, BadInput, sse_event
from streams.console.views import SEVERITY_RANK, AlertFilter
from streams.vocabulary import STATUSES


class FeedViews:
    @staticmethod
    def parse_filter(request: web.Request, default_status: str | None = None) -> AlertFilter:
        severities = [s.strip() for s in request.query.getall("severity", []) if s.strip()]
        unknown = [s for s in severities if s not in SEVERITY_RANK]
        if unknown:
            raise BadInput(f"Unknown severity {unknown[0][:40]!r}: use info, warning, high or critical.")
        status = request.query.get("status", default_status or "").strip()
        if status == "any":
            status = ""
        if status and status not in STATUSES:
            raise BadInput(f"Unknown status {status[:40]!r}: use open, acknowledged, resolved or any.")
        detector = request.query.get("detector", "").strip()
        rule = request.query.get("rule", "").strip()
        if len(detector) > MAX_FILTER_CHARS or len(rule) > MAX_FILTER_CHARS:
            raise BadInput("That filter is too long.")
        ordered = tuple(s for s in pages.SEVERITIES if s in severities)
        return AlertFilter(
            severities=ordered or None,
            detector=detector or None,
            rule=rule or None,
            status=status or None,  # type: ignore[arg-type]
        )

    @staticmethod
    def filters_of(chosen: AlertFilter) -> dict[str, Any]:
        return {
            "severities": list(chosen.severities or ()),
            "detector": chosen.detector or "",
            "rule": chosen.rule or "",
            "status": chosen.status or "any",
        }

    async def queue_page(self, request: web.Request) -> web.StreamResponse:
        try:
            chosen = self.parse_filter(request, default_status="open")
        except BadInput as exc:
            return self.error(request, 400, str(exc))
        rows = await self.run(self.store.conversations, chosen)
        return self.page(
            request,
            "queue.html",
            rows=rows,
            filters=self.filters_of(chosen),
            now=pages.utc_now(),
            query=request.query_string,
        )

    async def queue_rows(self, request: web.Request) -> web.StreamResponse:
        try:
            chosen = self.parse_filter(request, default_status="open")
        except BadInput as exc:
            return self.error(request, 400, str(exc))
        rows = await self.run(self.store.conversations, chosen)
        return self.page(request, "_queue_rows.html", rows=rows, now=pages.utc_now())

    async def feed_page(self, request: web.Request) -> web.StreamResponse:
        try:
            chosen = self.parse_filter(request)
        except BadInput as exc:
            return self.error(request, 400, str(exc))
        rows = await self.run(self.store.alerts, chosen)
        return self.page(
            request,
            "feed.html",
            rows=rows,
            filters=self.filters_of(chosen),
            limit=chosen.limit,
            detectors=sorted({r.detector for r in rows} | ({chosen.detector} if chosen.detector else set())),
            rules=sorted({r.rule for r in rows} | ({chosen.rule} if chosen.rule else set())),
        )

    async def events(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        if len(self.streams) >= self.max_streams:
            return web.Response(status=503, text="too many live feeds open\n", headers={"Retry-After": "10"})
        response = web.StreamResponse(
            headers={**SECURITY_HEADERS, "Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        subscription = self.feed.subscribe()
        self.streams.add(subscription)
        try:
            await response.prepare(request)
            await response.write(b"retry: 5000\n: connected\n\n")
            while True:
                timeout = self.keepalive_seconds
                if identity.expires is not None:
                    left = identity.expires - time.time()
                    if left <= 0:
                        break  # the session ended: the browser reconnects and is asked to sign in
                    timeout = min(timeout, left)
                summary = await subscription.get(timeout)
                if summary is not None:
                    await response.write(sse_event(summary))
                elif subscription.closed:
                    break
                else:
                    await response.write(b": keep-alive\n\n")
        except (ConnectionError, RuntimeError):
            pass  # the browser went away
        finally:
            subscription.close()
            self.streams.discard(subscription)
        return response

    async def close_streams(self, app: web.Application) -> None:
        for subscription in list(self.streams):
            subscription.close()

    async def start_feed(self, app: web.Application) -> None:
        if self.feed.loop is None or self.feed.loop.is_closed():
            self.feed.start(asyncio.get_running_loop())
