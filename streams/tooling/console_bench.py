"""``turnwatch bench --console``: the reviewer console's page load with a full store, and the
live-feed delay from an alert produced on the alerts topic to the browser's event stream.

(f) page load: a store holding ``stored`` alerts (one conversation's turns with each alert page),
the feed and an alert page fetched over HTTP from the real console app, median and p95.
(g) live feed: alerts produced one by one to the alerts topic of an embedded broker while an
SSE client is connected; delay = event received − alert produced, median and p95.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from kafka import KafkaProducer

from streams.console.live import LiveFeed
from streams.console.service import ConsoleService
from streams.console.store import AlertStore
from streams.console.web import create_console_app
from streams.contracts import Alert, TurnEvent
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.tooling.bench import percentile

PROXY_HEADERS = {"X-Forwarded-User": "bench", "X-Forwarded-Role": "reviewer"}
RULES = ("crisis.method", "crisis.passive_ideation", "distress.escalating", "therapist.harsh_or_shaming")
SEVERITIES = ("critical", "critical", "high", "warning")


@dataclass
class ConsoleResults:
    stored_alerts: int = 0
    feed_ms: dict[str, float] = field(default_factory=dict)
    alert_page_ms: dict[str, float] = field(default_factory=dict)
    live_delay_ms: dict[str, float] = field(default_factory=dict)
    live_samples: int = 0


def synthetic_alert(n: int, at: datetime) -> Alert:
    rule = RULES[n % len(RULES)]
    conversation = f"bench-{n // 4}"
    return Alert.model_validate(
        {
            "alert_id": uuid.uuid4().hex,
            "conversation_id": conversation,
            "detector": rule.split(".")[0],
            "rule": rule,
            "severity": SEVERITIES[n % len(SEVERITIES)],
            "turns": [6],
            "evidence": [{"turn_index": 6, "role": "patient", "quote": "words of turn 6", "why": "synthetic"}],
            "score": 0.9,
            "taxonomy": [],
            "summary": f"synthetic alert {n}",
            "suggested_action": "none",
            "created_at": (at - timedelta(seconds=n)).isoformat(),
            "detector_version": "bench/1",
            "distress": [{"turn_index": i, "score": 0.1 * i} for i in range(0, 8, 2)],
        }
    )


def fill_store(store: AlertStore, count: int) -> list[Alert]:
    now = datetime.now(UTC)
    alerts = [synthetic_alert(n, now) for n in range(count)]
    for alert in alerts:
        store.save_alert(alert)
    conversation = alerts[0].conversation_id
    store.save_turns(
        TurnEvent(
            event_id=f"{conversation}:{i}",
            conversation_id=conversation,
            turn_index=i,
            role="patient" if i % 2 == 0 else "therapist",
            text=f"words of turn {i} " * 20,
            ts=now,
        )
        for i in range(12)
    )
    return alerts


async def _timed_gets(session: aiohttp.ClientSession, url: str, rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        async with session.get(url, headers=PROXY_HEADERS) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append(1000 * (time.perf_counter() - started))
    return {"p50": round(statistics.median(times), 1), "p95": round(percentile(times, 95), 1)}


async def measure_page_load(results: ConsoleResults, workdir: Path, stored: int, rounds: int = 30) -> None:
    store = AlertStore.open(f"sqlite:///{workdir / 'bench-console.db'}")
    alerts = fill_store(store, stored)
    results.stored_alerts = store.count_alerts()
    settings = Settings(console_auth="proxy", data_dir=workdir)
    feed = LiveFeed()
    feed.start(asyncio.get_running_loop())

    async def publish(event) -> None:
        return None

    runner = web.AppRunner(create_console_app(store, settings, feed, publish), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            results.feed_ms = await _timed_gets(session, base + "/", rounds)
            results.alert_page_ms = await _timed_gets(session, f"{base}/alerts/{alerts[0].alert_id}", rounds)
    finally:
        await runner.cleanup()
        store.close()


async def measure_live_delay(results: ConsoleResults, workdir: Path, samples: int = 100) -> None:
    with EmbeddedBroker(log_file=workdir / "tansu.log") as broker:
        suffix = uuid.uuid4().hex[:6]
        settings = Settings(
            broker=broker.address,
            app_id=f"bench-console-{suffix}",
            alerts_topic=f"alerts-{suffix}",
            turns_topic=f"turns-{suffix}",
            verdicts_topic=f"verdicts-{suffix}",
            console_auth="proxy",
            console_port=free_port(),
            console_db_url=f"sqlite:///{workdir / f'live-{suffix}.db'}",
            data_dir=workdir,
        )
        ensure_topics(broker.address, [settings.alerts_topic, settings.turns_topic, settings.verdicts_topic], 4)
        service = ConsoleService(settings)
        url = await service.start()
        producer = KafkaProducer(bootstrap_servers=broker.address, acks=1, linger_ms=0)
        sent: dict[str, float] = {}
        delays: list[float] = []
        try:
            await asyncio.get_running_loop().run_in_executor(None, service.collector.ready.wait, 60)
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    url + "/events", headers=PROXY_HEADERS, timeout=aiohttp.ClientTimeout(total=None)
                ) as stream,
            ):

                async def read() -> None:
                    async for line in stream.content:
                        if line.startswith(b"data:"):
                            alert_id = json.loads(line[5:])["alert_id"]
                            if alert_id in sent:
                                delays.append(1000 * (time.time() - sent[alert_id]))
                                if len(delays) == samples:
                                    return

                reader = asyncio.create_task(read())
                now = datetime.now(UTC)
                for n in range(samples):
                    alert = synthetic_alert(n, now)
                    sent[alert.alert_id] = time.time()
                    producer.send(settings.alerts_topic, key=alert.conversation_id.encode(), value=alert.to_json())
                    producer.flush()
                    await asyncio.sleep(0.2)
                await asyncio.wait_for(reader, timeout=120)
        finally:
            producer.close()
            await service.stop()
    results.live_samples = len(delays)
    results.live_delay_ms = {"p50": round(statistics.median(delays), 1), "p95": round(percentile(delays, 95), 1)}


def run_console_bench(stored: int = 10_000) -> ConsoleResults:
    results = ConsoleResults()
    with tempfile.TemporaryDirectory(prefix="turnwatch-console-bench-") as tmp:
        asyncio.run(measure_page_load(results, Path(tmp), stored))
        asyncio.run(measure_live_delay(results, Path(tmp)))
    return results
