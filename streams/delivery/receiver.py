"""``turnwatch receiver``: a small webhook receiver for trying alerts (verifies signatures)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from aiohttp import web

from streams.delivery.signing import IDEMPOTENCY_HEADER, SignatureError, verify_signature
from streams.errors import ConfigError


def receiver_secret() -> bytes:
    path = os.environ.get("TURNWATCH_RECEIVER_SECRET_FILE")
    if path:
        return Path(path).read_text().strip().encode()
    value = os.environ.get("TURNWATCH_RECEIVER_SECRET")
    if not value:
        raise ConfigError(
            "set TURNWATCH_RECEIVER_SECRET or TURNWATCH_RECEIVER_SECRET_FILE (the webhook's shared secret)"
        )
    return value.encode()


def make_app(secret: bytes) -> web.Application:
    seen: set[str] = set()

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(secret, request.headers, body)
        except SignatureError as exc:
            print(f"rejected: {exc}", flush=True)
            return web.json_response({"error": str(exc)}, status=401)
        key = f"{request.headers.get(IDEMPOTENCY_HEADER, '')}/{request.headers.get('X-Turnwatch-Severity', '')}"
        if key in seen:
            return web.json_response({"ok": True, "duplicate": True})
        seen.add(key)
        alert = json.loads(body)
        print(
            f"{alert['severity'].upper():8} {alert['rule']:40} conv={alert['conversation_id']} {alert['summary']}",
            flush=True,
        )
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/hook", hook)
    return app


def run_receiver(host: str, port: int) -> None:
    web.run_app(make_app(receiver_secret()), host=host, port=port, print=lambda *_: None)
