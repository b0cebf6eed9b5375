"""The reviewer console's web app (aiohttp): sign-in, headers and the routes; the handlers live in
``feed_views`` (the queue, the feed, the live events), ``alert_views`` (an alert and reviewer actions) and
``silence_views`` (silences).

Routes
  GET  /login, POST /login, POST /logout       sign in with a token (console_auth: token)
  GET  /                                       the queue: conversations with open alerts, worst first
  GET  /queue/rows                             the queue's rows (live refresh)
  GET  /alerts                                 every alert; filters: severity, detector, rule (glob), status
  GET  /events                                 server-sent events: ``alert`` (an AlertSummary), keep-alives
  GET  /alerts/{alert_id}                      the alert: timeline, evidence, its conversation's alerts, audit log
  POST /alerts/{alert_id}/actions              acknowledge | resolve | verdict | assign (reviewers; CSRF)
  POST /conversations/{id}/acknowledge         acknowledge every open alert of a conversation
  GET  /silences, POST /silences               silences: list, create
  POST /silences/{silence_id}/expire           end a silence now
  GET  /healthz                                liveness (the store answers)
  GET  /static/...                             CSS and JS of this package

Pages are rendered on the server; scripts are static files (no inline script, no CDN). Turn text
appears only in alert pages, which are never cached; logs above DEBUG carry ids, actions and actors,
never turn text or reviewers' notes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web

from streams.console import pages
from streams.console.alert_views import AlertViews
from streams.console.auth import LOGIN_COOKIE, SESSION_COOKIE, Authenticator, Identity
from streams.console.common import (
    IDENTITY_KEY,
    NEXT_KEY,
    SECURITY_HEADERS,
    PublishSilence,
    PublishVerdict,
    safe_next,
)
from streams.console.feed_views import FeedViews
from streams.console.live import LiveFeed, Subscription
from streams.console.silence_views import SilenceViews
from streams.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
MAX_FORM_BYTES = 64 * 1024
KEEPALIVE_SECONDS = 15.0
MAX_STREAMS = 64
FAILED_SIGN_IN_DELAY = 0.25
PUBLIC_PATHS = ("/login", "/healthz", "/metrics")  # /metrics: added by the service; bounded labels, no text
T = TypeVar("T")


async def nowhere(_event: Any) -> None:
    raise RuntimeError("this console cannot publish silences")


class Console(FeedViews, AlertViews, SilenceViews):
    """The handlers, bound to one store, feed, authenticator and publishers."""

    def __init__(
        self,
        store: Any,
        settings: Settings,
        feed: LiveFeed,
        publish_verdict: PublishVerdict,
        authenticator: Authenticator,
        keepalive_seconds: float,
        max_streams: int,
        publish_silence: PublishSilence = nowhere,
    ) -> None:
        self.store = store
        self.settings = settings
        self.feed = feed
        self.publish_verdict = publish_verdict
        self.publish_silence = publish_silence
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
    publish_silence: PublishSilence = nowhere,
    authenticator: Authenticator | None = None,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
    max_streams: int = MAX_STREAMS,
) -> web.Application:
    """The console as an aiohttp application (the caller runs it; see service.ConsoleService).

    ``store`` is an AlertStore (synchronous; called on the default executor), ``feed`` the live
    feed the collector publishes to (started on the app's loop at start-up if it is not yet),
    ``publish_verdict`` sends each action to ``turnwatch.verdicts`` and ``publish_silence`` each silence to
    ``turnwatch.silences``, each returning once it is sent.
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
        publish_silence,
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
    app.router.add_get("/", console.queue_page)
    app.router.add_get("/queue/rows", console.queue_rows)
    app.router.add_get("/alerts", console.feed_page)
    app.router.add_get("/events", console.events)
    app.router.add_get("/alerts/{alert_id}", console.alert_page)
    app.router.add_post("/alerts/{alert_id}/actions", console.act)
    app.router.add_post("/conversations/{conversation_id}/acknowledge", console.acknowledge_conversation)
    app.router.add_get("/silences", console.silences_page)
    app.router.add_post("/silences", console.create_silence)
    app.router.add_post("/silences/{silence_id}/expire", console.expire_silence)
    app.router.add_get("/healthz", console.healthz)
    app.router.add_static("/static", STATIC, show_index=False, follow_symlinks=False)
    return app
