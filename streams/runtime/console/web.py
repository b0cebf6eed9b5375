"""The reviewer console's web app (aiohttp): the live alert feed, alert pages, reviewer actions.

Routes
  GET  /login, POST /login, POST /logout    sign in with a token (console_auth: token)
  GET  /                                    the feed; filters: severity (repeatable), detector, rule, status
  GET  /events                              server-sent events: ``alert`` (an AlertSummary), keep-alive comments
  GET  /alerts/{alert_id}                   the alert: timeline, evidence in place, distress curve, audit log
  POST /alerts/{alert_id}/actions           acknowledge | resolve | verdict (reviewers; CSRF token required)
  GET  /healthz                             liveness (the store answers)
  GET  /static/...                          CSS and JS of this package

Pages are rendered on the server; the only script is /static/feed.js (no inline script, no CDN).
Turn text appears only in alert pages, which are never cached; logs above DEBUG carry ids, actions
and actors, never turn text or reviewers' notes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web

from streams import metrics
from streams.contracts import VerdictEvent
from streams.runtime.console import pages
from streams.runtime.console.auth import LOGIN_COOKIE, SESSION_COOKIE, Authenticator, Identity
from streams.runtime.console.live import LiveFeed, Subscription
from streams.runtime.console.views import SEVERITY_RANK, AlertFilter, AlertSummary, AlertView
from streams.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
ACTIONS = ("acknowledge", "resolve", "verdict")
VERDICTS = ("true_positive", "false_positive", "unsure")
STATUSES = ("open", "acknowledged", "resolved")
MAX_NOTE_CHARS = next(
    (m.max_length for m in VerdictEvent.model_fields["note"].metadata if getattr(m, "max_length", None)), 2000
)
MAX_FILTER_CHARS = 200
MAX_FORM_BYTES = 64 * 1024
KEEPALIVE_SECONDS = 15.0
MAX_STREAMS = 64
FAILED_SIGN_IN_DELAY = 0.25
PUBLIC_PATHS = ("/login", "/healthz", "/metrics")  # /metrics: added by the service; bounded labels, no text
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
DONE_NOTICES = {
    "acknowledge": "Acknowledged. Recorded in the audit log and sent to the verdicts topic.",
    "resolve": "Resolved. Recorded in the audit log and sent to the verdicts topic.",
    "verdict": "Verdict recorded in the audit log and sent to the verdicts topic.",
}

PublishVerdict = Callable[[VerdictEvent], Awaitable[None]]
T = TypeVar("T")

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
    )


def sse_event(summary: AlertSummary) -> bytes:
    """One ``alert`` event; the JSON is ASCII on one line, so it cannot break the framing."""
    return b"event: alert\ndata: " + json.dumps(summary.to_dict(), separators=(",", ":")).encode() + b"\n\n"


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class BadInput(Exception):
    """A request the console refuses with 400; the message is shown to the user."""


class Console:
    """The handlers, bound to one store, feed, authenticator and verdict publisher."""

    def __init__(
        self,
        store: Any,
        settings: Settings,
        feed: LiveFeed,
        publish_verdict: PublishVerdict,
        authenticator: Authenticator,
        keepalive_seconds: float,
        max_streams: int,
    ) -> None:
        self.store = store
        self.settings = settings
        self.feed = feed
        self.publish_verdict = publish_verdict
        self.auth = authenticator
        self.keepalive_seconds = keepalive_seconds
        self.max_streams = max_streams
        self.streams: set[Subscription] = set()

    # --- plumbing ---------------------------------------------------------------------------

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A store call on the default executor (the store is synchronous)."""
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(function, *args, **kwargs))

    def page(self, request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
        identity: Identity | None = request.get(IDENTITY_KEY)
        context.setdefault("identity", identity)
        context.setdefault("csrf", self.auth.csrf_token(identity) if identity is not None else "")
        context.setdefault("auth_mode", self.auth.mode)
        return web.Response(text=pages.render(template, **context), status=status, content_type="text/html")

    def error(self, request: web.Request, status: int, message: str, heading: str | None = None) -> web.Response:
        headings = {
            400: "That request could not be used",
            401: "Sign-in required",
            403: "Not allowed",
            404: "Not found",
            405: "Not allowed",
            502: "Recorded, but not sent",
            503: "Unavailable",
        }
        return self.page(
            request,
            "error.html",
            status=status,
            heading=heading or headings.get(status, "Something went wrong"),
            message=message,
            back="/",
            back_label="Back to the alerts",
        )

    def identify(self, request: web.Request) -> Identity | None:
        if self.auth.mode == "proxy":
            return self.auth.from_headers(request.headers)
        return self.auth.read_session(request.cookies.get(SESSION_COOKIE))

    # --- middlewares ------------------------------------------------------------------------

    @web.middleware
    async def headers_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                for name, value in SECURITY_HEADERS.items():
                    exc.headers.setdefault(name, value)
                raise
            message = {404: "There is no page at this address.", 405: "This address does not accept that method."}
            response = self.error(request, exc.status, message.get(exc.status, exc.reason))
            if exc.status == 405 and "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
        if not response.prepared:
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            if request.path.startswith("/static/"):
                response.headers.setdefault("Cache-Control", "no-cache")
            else:
                response.headers["Cache-Control"] = "no-store"
        return response

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or request.path.startswith("/static/"):
            return await handler(request)
        identity = self.identify(request)
        if identity is None:
            return self.unauthenticated(request)
        request[IDENTITY_KEY] = identity
        if request.method == "POST":
            form = await request.post()
            given = form.get("csrf")
            if not self.auth.check_csrf(identity, given if isinstance(given, str) else None):
                log.warning(
                    "console refused a POST to %s without a valid CSRF token (user %s)", request.path, identity.user
                )
                return self.error(
                    request,
                    403,
                    "This form is out of date or did not come from the console. "
                    "Go back, reload the page and try again.",
                )
            if request.path != "/logout" and not identity.can_act:
                return self.error(
                    request, 403, "Your role is viewer: only reviewers acknowledge, resolve and judge alerts."
                )
        return await handler(request)

    def unauthenticated(self, request: web.Request) -> web.StreamResponse:
        if self.auth.mode == "proxy":
            return self.error(request, 401, "The reverse proxy in front of the console did not say who you are.")
        if request.method != "GET" or request.path == "/events":
            return web.Response(status=401, text="sign in at /login\n", headers={"Cache-Control": "no-store"})
        target = safe_next(request.path_qs)
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # A link from another site (a pager, chat): the browser holds back the SameSite=Strict
            # session cookie on this request only; reload the page from the console's own origin.
            return self.page(request, "session_check.html", target=target)
        raise web.HTTPSeeOther("/login?" + urlencode({"next": target}))

    # --- sign-in ----------------------------------------------------------------------------

    def _cookie_options(self) -> dict[str, Any]:
        return {"httponly": True, "samesite": "Strict", "secure": self.auth.secure_cookies}

    def login_form(self, request: web.Request, status: int = 200, error: str | None = None) -> web.Response:
        nonce = self.auth.login_nonce()
        response = self.page(
            request,
            "login.html",
            status=status,
            error=error,
            next=safe_next(request.query.get("next")) if request.method == "GET" else request[NEXT_KEY],
            login_csrf=self.auth.login_csrf(nonce),
        )
        response.set_cookie(LOGIN_COOKIE, nonce, path="/login", max_age=3600, **self._cookie_options())
        return response

    async def get_login(self, request: web.Request) -> web.StreamResponse:
        if self.auth.mode == "proxy":
            raise web.HTTPSeeOther("/")
        if self.identify(request) is not None:
            raise web.HTTPSeeOther(safe_next(request.query.get("next")))
        return self.login_form(request)

    async def post_login(self, request: web.Request) -> web.StreamResponse:
        if self.auth.mode == "proxy":
            raise web.HTTPSeeOther("/")
        form = await request.post()
        given_next, token, csrf = (form.get(k) for k in ("next", "token", "csrf"))
        request[NEXT_KEY] = safe_next(given_next if isinstance(given_next, str) else None)
        if not self.auth.check_login_csrf(request.cookies.get(LOGIN_COOKIE), csrf if isinstance(csrf, str) else None):
            return self.login_form(request, 403, "The sign-in form expired. Please try again.")
        found = self.auth.login(token) if isinstance(token, str) and token else None
        if found is None:
            log.warning("console sign-in refused (wrong token)")
            await asyncio.sleep(FAILED_SIGN_IN_DELAY)
            return self.login_form(request, 401, "That token was not accepted.")
        identity, cookie = found
        log.info("console sign-in: %s (%s)", identity.user, identity.role, extra={"actor": identity.user})
        response = web.HTTPSeeOther(request[NEXT_KEY])
        response.set_cookie(
            SESSION_COOKIE, cookie, path="/", max_age=self.auth.session_seconds, **self._cookie_options()
        )
        response.del_cookie(LOGIN_COOKIE, path="/login")
        raise response

    async def post_logout(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        if self.auth.mode == "proxy":
            raise web.HTTPSeeOther("/")
        self.auth.revoke(identity)
        log.info("console sign-out: %s", identity.user, extra={"actor": identity.user})
        response = web.HTTPSeeOther("/login")
        response.del_cookie(SESSION_COOKIE, path="/")
        raise response

    # --- the feed ---------------------------------------------------------------------------

    @staticmethod
    def parse_filter(request: web.Request) -> AlertFilter:
        severities = [s.strip() for s in request.query.getall("severity", []) if s.strip()]
        unknown = [s for s in severities if s not in SEVERITY_RANK]
        if unknown:
            raise BadInput(f"Unknown severity {unknown[0][:40]!r}: use info, warning, high or critical.")
        status = request.query.get("status", "").strip()
        if status and status not in STATUSES:
            raise BadInput(f"Unknown status {status[:40]!r}: use open, acknowledged or resolved.")
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

    async def feed_page(self, request: web.Request) -> web.StreamResponse:
        try:
            chosen = self.parse_filter(request)
        except BadInput as exc:
            return self.error(request, 400, str(exc))
        rows = await self.run(self.store.alerts, chosen)
        filters = {
            "severities": list(chosen.severities or ()),
            "detector": chosen.detector or "",
            "rule": chosen.rule or "",
            "status": chosen.status or "",
        }
        return self.page(
            request,
            "feed.html",
            rows=rows,
            filters=filters,
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

    # --- an alert ---------------------------------------------------------------------------

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
        )

    @staticmethod
    def parse_action(form: Any) -> tuple[str, str | None, str]:
        def field(name: str) -> str:
            value = form.get(name, "")
            if not isinstance(value, str):
                raise BadInput(f"{name} must be a text field.")
            return value

        action, verdict, note = field("action").strip(), field("verdict").strip(), field("note")
        note = note.replace("\r\n", "\n").strip()
        if action not in ACTIONS:
            raise BadInput("Unknown action: use acknowledge, resolve or verdict.")
        if action == "verdict":
            if verdict not in VERDICTS:
                raise BadInput("Choose a verdict: true positive, false positive or unsure.")
        elif verdict:
            raise BadInput("A verdict is recorded with the verdict action only.")
        if len(note) > MAX_NOTE_CHARS:
            raise BadInput(f"The note is {len(note)} characters; the limit is {MAX_NOTE_CHARS}.")
        return action, verdict or None, note

    async def act(self, request: web.Request) -> web.StreamResponse:
        identity: Identity = request[IDENTITY_KEY]
        alert_id = request.match_info["alert_id"]
        try:
            action, verdict, note = self.parse_action(await request.post())
        except BadInput as exc:
            return self.error(request, 400, str(exc))

        def record() -> tuple[Any, AlertView | None]:
            done = self.store.record_action(alert_id, action, identity.user, identity.role, verdict=verdict, note=note)
            return done, self.store.alert(alert_id)

        try:
            record_, view = await self.run(record)
        except KeyError:
            return self.error(request, 404, "No alert with that id is stored; nothing was recorded.")
        except ValueError as exc:
            return self.error(request, 400, f"Not recorded: {exc}")
        log.info(
            "console action %s on alert %s by %s",
            action,
            alert_id,
            identity.user,
            extra={"alert_id": alert_id, "action": action, "actor": identity.user},
        )
        log.debug("console action %s note: %s", record_.action_id, note)
        metrics.CONSOLE_ACTIONS.labels(action).inc()
        if view is None:  # deleted (retention) between the two calls
            return self.error(request, 404, "The alert was deleted while the action was recorded.")
        alert = view.alert
        if action == "verdict":
            metrics.VERDICTS.labels(alert.rule, record_.verdict or verdict).inc()
        try:
            event = VerdictEvent(
                action_id=record_.action_id,
                alert_id=alert.alert_id,
                conversation_id=alert.conversation_id,
                detector=alert.detector,
                rule=alert.rule,
                severity=alert.severity,
                action=record_.action,
                verdict=record_.verdict,
                note=record_.note,
                actor=identity.user,
                role="reviewer",
                at=_aware(record_.at),
            )
            await self.publish_verdict(event)
        except Exception as exc:  # an invalid event, the broker down, a timeout, ...
            log.error(
                "console action %s on alert %s recorded but not published to the verdicts topic: %s",
                record_.action_id,
                alert_id,
                type(exc).__name__,
                extra={"alert_id": alert_id, "action": action, "actor": identity.user},
            )
            return self.error(
                request,
                502,
                "Your action is recorded in the audit log, but it could not be sent to the verdicts topic "
                f"({type(exc).__name__}). Do not repeat it; tell the on-call engineer.",
            )
        self.feed.publish(summary_of(view))
        raise web.HTTPSeeOther(f"/alerts/{quote(alert_id, safe='')}?done={action}")

    # --- health -----------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        try:
            await self.run(self.store.count_alerts)
        except Exception as exc:
            log.warning("console health check: the store did not answer: %s", type(exc).__name__)
            return web.json_response({"status": "store unavailable"}, status=503)
        return web.json_response({"status": "ok"})


def create_console_app(
    store: Any,
    settings: Settings,
    feed: LiveFeed,
    publish_verdict: PublishVerdict,
    *,
    authenticator: Authenticator | None = None,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    max_streams: int = MAX_STREAMS,
) -> web.Application:
    """The console as an aiohttp application (the caller runs it; see service.ConsoleService).

    ``store`` is an AlertStore (synchronous; called on the default executor), ``feed`` the live
    feed the collector publishes to (started on the app's loop at start-up if it is not yet),
    ``publish_verdict`` sends each action to ``turnwatch.verdicts`` and returns once it is sent.
    Raises ConfigError when the authentication settings are unusable.
    """
    console = Console(
        store,
        settings,
        feed,
        publish_verdict,
        authenticator or Authenticator.from_settings(settings),
        keepalive_seconds,
        max_streams,
    )
    app = web.Application(
        middlewares=[console.headers_middleware, console.auth_middleware],
        client_max_size=MAX_FORM_BYTES,
    )
    app.on_startup.append(console.start_feed)
    app.on_shutdown.append(console.close_streams)
    app.router.add_get("/login", console.get_login)
    app.router.add_post("/login", console.post_login)
    app.router.add_post("/logout", console.post_logout)
    app.router.add_get("/", console.feed_page)
    app.router.add_get("/events", console.events)
    app.router.add_get("/alerts/{alert_id}", console.alert_page)
    app.router.add_post("/alerts/{alert_id}/actions", console.act)
    app.router.add_get("/healthz", console.healthz)
    app.router.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
    return app
