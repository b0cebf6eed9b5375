"""The console as a running service: store, collector, live feed, verdict publisher, web app.

``turnwatch console`` runs it on its own; with ``console_in_worker`` the worker starts it in a
thread of its own process; the demo starts it beside its worker.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from aiohttp import web
from kafka import KafkaProducer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.console.collector import Collector
from streams.console.live import LiveFeed
from streams.console.store import AlertStore
from streams.console.web import create_console_app
from streams.contracts import SilenceEvent, VerdictEvent
from streams.kafka.security import kafka_python_options
from streams.settings import Settings

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0


def store_url(settings: Settings) -> str:
    return settings.console_db_url or f"sqlite:///{Path(settings.data_dir).resolve() / 'console.db'}"


def console_link(settings: Settings, alert_id: str) -> str:
    return f"{settings.console_url or f'http://{settings.console_host}:{settings.console_port}'}/alerts/{alert_id}"


class VerdictPublisher:
    """Sends each reviewer action to the verdicts topic, and each silence to the silences topic, and waits
    for the broker's ack."""

    def __init__(self, settings: Settings) -> None:
        self.topic = settings.verdicts_topic
        self.silences_topic = settings.silences_topic
        self.producer = KafkaProducer(
            bootstrap_servers=settings.broker,
            acks="all",
            client_id="turnwatch-console",
            **kafka_python_options(settings),
        )

    async def __call__(self, event: VerdictEvent) -> None:
        future = self.producer.send(self.topic, key=event.alert_id.encode(), value=event.to_json())
        await asyncio.get_running_loop().run_in_executor(None, future.get, 30)

    async def silence(self, event: SilenceEvent) -> None:
        future = self.producer.send(self.silences_topic, key=event.silence_id.encode(), value=event.to_json())
        await asyncio.get_running_loop().run_in_executor(None, future.get, 30)

    def close(self) -> None:
        self.producer.close(timeout=5)


class ConsoleService:
    def __init__(self, settings: Settings) -> None:
        if settings.broker is None:
            raise ValueError("the console needs the broker address (settings.broker)")
        self.settings = settings
        self.store = AlertStore.open(store_url(settings))
        self.feed = LiveFeed()
        self.publisher = VerdictPublisher(settings)
        consumer_options = {
            "bootstrap_servers": settings.broker,
            "group_id": f"{settings.app_id}-console",
            "client_id": "turnwatch-console",
            "auto_offset_reset": "earliest",
            "enable_auto_commit": False,
            **kafka_python_options(settings),
        }
        self.collector = Collector(
            self.store,
            consumer_options,
            settings.alerts_topic,
            settings.turns_topic,
            settings.console_context_turns,
            self.feed.publish,
            settings.silences_topic,
        )
        self.runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = create_console_app(
            self.store, self.settings, self.feed, self.publisher, publish_silence=self.publisher.silence
        )
        app.router.add_get("/metrics", metrics_view)
        return app

    async def start(self) -> str:
        """Start the collector and the web server on the running loop; return the console's URL."""
        self.feed.start(asyncio.get_running_loop())
        self.collector.start()
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.console_host, self.settings.console_port)
        await site.start()
        asyncio.get_running_loop().create_task(self._purge_periodically())
        return f"http://{self.settings.console_host}:{self.settings.console_port}"

    async def stop(self) -> None:
        self.collector.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        await asyncio.get_running_loop().run_in_executor(None, self.collector.join, 10)
        self.publisher.close()
        self.store.close()

    async def _purge_periodically(self) -> None:
        while True:
            deleted = await asyncio.get_running_loop().run_in_executor(
                None, self.store.purge, self.settings.console_retention_days
            )
            if deleted:
                log.info(
                    "console retention: deleted %d alerts older than %s days",
                    deleted,
                    self.settings.console_retention_days,
                )
            await asyncio.sleep(PURGE_EVERY_SECONDS)


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def run_console(settings: Settings, on_ready: Callable[[str], None] = print) -> None:
    """Run until Ctrl-C or SIGTERM."""

    async def main() -> None:
        service = ConsoleService(settings)
        on_ready(await service.start())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await service.stop()

    asyncio.run(main())


def start_console_thread(settings: Settings, on_ready: Callable[[str], None] = lambda url: None) -> threading.Thread:
    """The console on a loop of its own in a daemon thread (inside the worker or the demo)."""
    started = threading.Event()
    failure: list[BaseException] = []

    def target() -> None:
        async def main() -> None:
            service = ConsoleService(settings)
            on_ready(await service.start())
            started.set()
            await asyncio.Event().wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the starter below
            failure.append(exc)
            started.set()

    thread = threading.Thread(target=target, name="console", daemon=True)
    thread.start()
    started.wait(120)
    if failure:
        raise failure[0]
    return thread
