"""A webhook receiver on loopback that counts what it gets (aiohttp in its own thread).

Used by `turnwatch crashtest` and the delivery tests to check that every alert arrived once:
``accepted`` counts 200s per idempotency key, ``deliveries`` per (key, severity).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from streams.delivery.signing import IDEMPOTENCY_HEADER, SignatureError, verify_signature
from streams.kafka.broker import free_port


@dataclass
class Receiver:
    secret: bytes
    status: int = 200
    port: int = field(default_factory=free_port)
    attempts: Counter = field(default_factory=Counter)  # idempotency key -> requests seen
    accepted: Counter = field(default_factory=Counter)  # idempotency key -> 200s answered
    deliveries: Counter = field(default_factory=Counter)  # (idempotency key, severity) -> 200s answered
    rejected_signatures: int = 0
    bodies: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify_signature(self.secret, request.headers, body)
        except SignatureError as exc:
            self.rejected_signatures += 1
            return web.json_response({"error": str(exc)}, status=401)
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        self.attempts[key] += 1
        if self.status != 200:
            return web.json_response({"error": "outage"}, status=self.status)
        self.accepted[key] += 1
        self.deliveries[(key, request.headers.get("X-Turnwatch-Severity", ""))] += 1
        self.bodies.append(body)
        return web.json_response({"ok": True})

    def start(self) -> Receiver:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/hook", self.handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            self._runner = runner
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_until(self, condition, timeout: float = 90) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.1)
        return condition()
