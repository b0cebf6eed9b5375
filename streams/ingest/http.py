"""The worker's HTTP surface: POST /v1/turns, /metrics, /healthz, /readyz."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import faust
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import metrics
from streams.contracts import parse_turn
from streams.errors import InvalidTurn
from streams.kafka.faust_tuning import worker_ready
from streams.settings import Settings

log = logging.getLogger(__name__)

MAX_BATCH = 1000
READ_CHUNK = 64 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, error: str, **details: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **details}


def _events_in(body: Any) -> list[Any]:
    if isinstance(body, dict) and "turns" in body:
        body = body["turns"]
    items = body if isinstance(body, list) else [body]
    if not items:
        raise BadRequest(422, "empty batch")
    if len(items) > MAX_BATCH:
        raise BadRequest(413, f"batch of {len(items)} events exceeds {MAX_BATCH}")
    return items


def validate_batch(body: Any, max_text_bytes: int) -> list[Any]:
    """All events valid or none accepted; the error names each offending field."""
    items = _events_in(body)
    events, problems = [], []
    for index, item in enumerate(items):
        try:
            events.append(parse_turn(item, max_text_bytes))
        except InvalidTurn as exc:
            problems.append({"index": index, "reason": exc.reason, "detail": exc.detail})
    if problems:
        raise BadRequest(422, "invalid turn event", problems=problems)
    return events


INGEST_OFF = (
    "the HTTP ingest is off: no api_token is set; set TURNWATCH_API_TOKEN (or, for local use only, "
    "TURNWATCH_ALLOW_UNAUTHENTICATED_INGEST=true)"
)
JSON_TYPES = ("application/json",)


def ingest_policy(settings: Settings) -> str:
    """``token`` (a bearer token is required), ``open`` (explicitly allowed without one) or ``off``."""
    if settings.api_token is not None:
        return "token"
    return "open" if settings.allow_unauthenticated_ingest else "off"


def is_json(content_type: str) -> bool:
    return content_type in JSON_TYPES or (content_type.startswith("application/") and content_type.endswith("+json"))


def register_views(app: faust.App, settings: Settings, turns_topic: faust.TopicT) -> None:
    token = settings.api_token.get_secret_value().encode() if settings.api_token else None
    policy = ingest_policy(settings)
    if policy == "off":
        log.warning("%s; POST /v1/turns answers 503", INGEST_OFF)
    elif policy == "open":
        log.warning(
            "POST /v1/turns accepts UNAUTHENTICATED turns (allow_unauthenticated_ingest): anyone who can reach "
            "%s:%s can write conversation turns; never run this way in production",
            settings.web_host,
            settings.web_port,
        )

    def authorized(request: web.Request) -> bool:
        if token is None:
            return True
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token)

    async def read_body(request: web.Request) -> Any:
        declared = request.content_length
        if declared is not None and declared > settings.max_body_bytes:
            raise BadRequest(413, f"body of {declared} bytes exceeds {settings.max_body_bytes}")
        # StreamReader.read(n) returns whatever has arrived (at most n): read to the end.
        chunks, size = [], 0
        while chunk := await request.content.read(READ_CHUNK):
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise BadRequest(413, f"body exceeds {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadRequest(400, "body is not valid JSON") from None

    @app.page("/v1/turns")
    class Turns(web.View):
        async def post(self, request: web.Request) -> web.Response:
            try:
                if policy == "off":
                    raise BadRequest(503, INGEST_OFF)
                if not authorized(request):
                    raise BadRequest(401, "missing or wrong bearer token")
                if not is_json(request.content_type):
                    raise BadRequest(415, f"Content-Type must be application/json, not {request.content_type}")
                events = validate_batch(await read_body(request), settings.max_text_bytes)
            except BadRequest as exc:
                metrics.INGEST_REQUESTS.labels(f"{exc.status // 100}xx").inc()
                headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
                return self.json(exc.body, status=exc.status, headers=headers)
            # The forwarded event carries only the fields this version knows: count the rest here.
            metrics.UNKNOWN_FIELDS.inc(sum(len(e.unknown_fields) for e in events))
            pending = [await turns_topic.send(key=e.conversation_id.encode(), value=e.to_json()) for e in events]
            for future in pending:
                await future  # accepted means the broker has it
            metrics.INGEST_REQUESTS.labels("2xx").inc()
            return self.json({"accepted": len(events)}, status=202)

    @app.page("/metrics")
    class Metrics(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    class Health(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(web.View):
        async def get(self, request: web.Request) -> web.Response:
            assigned = app.consumer.assignment() if app.consumer else set()
            ready = worker_ready(app)
            body = {
                "ready": ready,
                "partitions": len(assigned),
                "rebalancing": bool(app.rebalancing),
                "recovering": bool(getattr(app, "in_recovery", False)),
            }
            return self.json(body, status=200 if ready else 503)
