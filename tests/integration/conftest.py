"""One broker fixture for every integration test: a real tansu process on loopback."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.processes import stop_process
from streams.kafka.topics import ensure_topics
from streams.testing.isolation import isolated
from streams.testing.workers import spawn_worker, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> EmbeddedBroker:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_file=log) as running:
        yield running


@dataclass
class WorkerHandle:
    broker: str
    web_port: int
    topics: dict[str, str]
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def metric_sum(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k == prefix or k.startswith(prefix + "{"))

    def wait_for_metric(self, prefix: str, at_least: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        value = self.metric_sum(prefix)
        while value < at_least and time.monotonic() < deadline:
            time.sleep(0.25)
            value = self.metric_sum(prefix)
        return value


def consume(bootstrap: str, topic: str, until: Callable[[list[dict]], bool], timeout: float = 60) -> list[dict]:
    """Read a topic from the start until ``until(records)`` holds or the timeout passes."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    records: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(records):
            for batch in consumer.poll(timeout_ms=250).values():
                records.extend(json.loads(r.value) for r in batch)
    finally:
        consumer.close()
    return records


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory, request) -> WorkerHandle:
    """A real `turnwatch worker` process with its own app id and topics."""
    own = isolated("test")
    topics = own.topics
    env = {
        **own.env,
        "TURNWATCH_API_TOKEN": "test-token",
        "TURNWATCH_MAX_BODY_BYTES": "65536",
    }
    env.update(getattr(request.module, "WORKER_ENV", {}))
    ensure_topics(broker.address, [topics[role] for role in ("turns", "alerts", "dlq")], partitions=4)
    port = free_port()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = spawn_worker(broker.address, port, log, extra_env={**env, "TURNWATCH_DATA_DIR": str(log.parent)})
    try:
        wait_ready(port, timeout=90, process=process)
    except Exception:
        stop_process(process)
        raise AssertionError(f"worker did not become ready:\n{log.read_text()[-4000:]}") from None
    yield WorkerHandle(broker.address, port, topics, env, log)
    # A graceful Faust stop waits for its streams; on two busy cores that took over 20 s once in CI.
    code = stop_process(process, timeout=60)
    assert code == 0, f"worker exited with {code}:\n{log.read_text()[-3000:]}"


# Delivery that follows an alert's life (test_paging_sync.py, test_escalation_silence.py): a
# worker with a given delivery config, and one loopback server standing in for the receivers.


class RecordingReceivers:
    """PagerDuty (``/pd/<name>``), the Slack Web API (``/slack/api/<method>``) and plain webhooks on
    one loopback port (aiohttp in its own thread). Records every call with its arrival time; a
    path in ``failing`` answers 503 (recorded in ``attempts`` only)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[tuple[str, dict, float]] = []  # (path, JSON body, monotonic arrival time)
        self.attempts: list[str] = []
        self.failing: set[str] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request):
        from aiohttp import web

        body = await request.json()
        self.attempts.append(request.path)
        if request.path in self.failing:
            return web.json_response({"error": "outage"}, status=503)
        if request.path.startswith("/slack/api/"):
            # chat.update names its message; a new message gets a new ts (kept in the record as "_ts").
            body["_ts"] = body.get("ts") or f"1700000000.{len(self.calls) + 1:06d}"
            self.calls.append((request.path, body, time.monotonic()))
            return web.json_response({"ok": True, "channel": body.get("channel"), "ts": body["_ts"]})
        self.calls.append((request.path, body, time.monotonic()))
        return web.json_response({"status": "success"}, status=202)

    def to(self, path: str) -> list[dict]:
        return [body for called, body, _ in list(self.calls) if called == path]

    def start(self) -> RecordingReceivers:
        import asyncio
        import threading

        from aiohttp import web

        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_post("/{tail:.*}", self.handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10), "the recording receivers did not start"
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@contextmanager
def running_prometheus(workdir: Path, config: str) -> Iterator[int]:
    """A real Prometheus on loopback with ``config`` (its scrape jobs); yields its port and always
    stops it, also when the test errors. Skips (fails under CI=true) when Prometheus is missing."""
    from tests.deploy.test_ops_alerting import tool

    binary = tool("prometheus")
    port = free_port()
    (workdir / "prometheus.yml").write_text(config)
    with open(workdir / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_worker_and_console(
    broker_address: str, workdir: Path, env: dict[str, str], ready_timeout: float = 180
) -> Iterator[None]:
    """A worker and a reviewer console (ports from ``env``: ``TURNWATCH_CONSOLE_PORT`` and the
    worker's ``web_port``), both ready; both stopped when the block ends, also on an error."""
    import os
    import sys

    from streams.kafka.broker import wait_for_port

    worker_port, console_port = int(env["TURNWATCH_WEB_PORT"]), int(env["TURNWATCH_CONSOLE_PORT"])
    worker = spawn_worker(broker_address, worker_port, workdir / "worker.log", extra_env=env)
    with open(workdir / "console.log", "ab") as log:
        console = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "console", "--broker", broker_address],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(worker_port, timeout=ready_timeout, process=worker)
        assert wait_for_port("127.0.0.1", console_port, 90), (workdir / "console.log").read_text()[-3000:]
        yield
    finally:
        stop_process(console)
        stop_process(worker)


def wait_until(condition: Callable[[], object], timeout: float = 90) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (never sleep-and-assume)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


class DeliveryStack:
    """Topics (verdicts and silences included), a delivery config and one worker process."""

    NAMES = ("turns", "alerts", "dlq", "delivery_retry", "delivery_dlq", "verdicts", "silences")

    def __init__(self, broker_address: str, workdir: Path, config: str, env: dict[str, str]) -> None:
        own = isolated("oncall")
        self.broker = broker_address
        self.topics = own.topics
        (workdir / "delivery.yaml").write_text(config)
        self.env = {
            **own.env,
            "TURNWATCH_DELIVERY_CONFIG": str(workdir / "delivery.yaml"),
            "TURNWATCH_DATA_DIR": str(workdir),
            **env,
        }
        ensure_topics(self.broker, [self.topics[role] for role in self.NAMES], partitions=4)
        self.workdir = workdir
        self.process = None

    def start(self) -> DeliveryStack:
        self.port = free_port()
        self.log = self.workdir / "worker.log"
        self.process = spawn_worker(self.broker, self.port, self.log, extra_env=self.env)
        try:
            wait_ready(self.port, timeout=90, process=self.process)
        except Exception:
            stop_process(self.process)
            raise AssertionError(f"worker did not become ready:\n{self.log.read_text()[-4000:]}") from None
        return self

    def kill(self) -> None:
        """SIGKILL the worker's process group: a crash, nothing flushed or committed on the way out."""
        import os
        import signal

        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """Stop the worker (also after a failed test: nothing outlives the run); its exit code."""
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        return stop_process(self.process, timeout=60)

    def publish(self, topic: str, items: list[tuple[str, bytes]]) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.broker, acks="all")
        for key, value in items:
            producer.send(self.topics[topic], key=key.encode(), value=value)
        producer.flush()
        producer.close()

    def publish_alert(self, alert: dict) -> None:
        self.publish("alerts", [(alert["conversation_id"], json.dumps(alert).encode())])

    def metric(self, series: str) -> float:
        """One exact series, e.g. 'turnwatch_deliveries_total{outcome="silenced",sink="pagerduty"}'."""
        from streams.testing.workers import metric_lines

        return sum(float(line.rsplit(" ", 1)[1]) for line in metric_lines(self.port) if line.startswith(series + " "))


def verdict_record(alert: dict, action: str, actor: str = "alice", action_id: str | None = None) -> tuple[str, bytes]:
    """A reviewer's console action on the verdicts topic: (key = alert_id, VerdictEvent JSON)."""
    from datetime import UTC, datetime

    from streams.contracts import VerdictEvent

    event = VerdictEvent(
        action_id=action_id or f"act-{uuid.uuid4().hex[:10]}",
        alert_id=alert["alert_id"],
        conversation_id=alert["conversation_id"],
        detector=alert["detector"],
        rule=alert["rule"],
        severity=alert["severity"],
        action=action,
        actor=actor,
        at=datetime.now(UTC),
    )
    return event.alert_id, event.to_json()


def needs_slack_sdk() -> None:
    """Slack's bot mode imports slack-sdk when it sends; CI must have it (a pyproject dependency)."""
    import importlib.util
    import os

    if importlib.util.find_spec("slack_sdk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("slack-sdk is not installed (a dependency in pyproject.toml)")
        pytest.skip("slack-sdk not installed")


# The reviewer console in a browser (test_console.py, test_console_shift.py): a `turnwatch console`
# process on its own topics and SQLite file, and Debian's chromium driven by Playwright (never a
# downloaded browser).

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    """Debian's chromium; a failure in CI (it installs it), a skip elsewhere."""
    import os

    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
    pytest.skip("chromium not installed")


class ConsoleProcess:
    """`turnwatch console` with its own topics (alerts, turns, verdicts, silences), SQLite store and tokens
    (``{token: {"user": ..., "role": ...}}``). ``stop()`` always ends it, also after a failed start."""

    NAMES = ("turns", "alerts", "verdicts", "silences")

    def __init__(self, broker_address: str, workdir: Path, tokens: dict[str, dict[str, str]]) -> None:
        import yaml

        own = isolated("console")
        self.broker = broker_address
        self.workdir = workdir
        self.topics = own.topics
        self.port = free_port()
        self.db_url = f"sqlite:///{workdir / 'console.db'}"
        self.log = workdir / "console.log"
        (workdir / "tokens.yaml").write_text(yaml.safe_dump(tokens))
        self.env = {
            **own.env,
            "TURNWATCH_DATA_DIR": str(workdir),
            "TURNWATCH_CONSOLE_TOKENS_FILE": str(workdir / "tokens.yaml"),
            "TURNWATCH_CONSOLE_DB_URL": self.db_url,
            "TURNWATCH_CONSOLE_PORT": str(self.port),
            "TURNWATCH_CONSOLE_SESSION_SECRET": f"console-test-secret-{own.app_id}",
        }
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ConsoleProcess:
        import os
        import subprocess
        import sys

        ensure_topics(self.broker, [self.topics[role] for role in self.NAMES], partitions=1)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "console", "--broker", self.broker],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def healthy() -> bool:
            assert self.process.poll() is None, f"the console exited:\n{self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        try:
            assert wait_until(healthy, timeout), f"the console did not answer:\n{self.log.read_text()[-3000:]}"
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else self.process.returncode
        return stop_process(self.process, timeout=30)

    def publish_alert(self, *alerts: dict) -> None:
        """Alerts on the alerts topic the console's collector reads, as the monitor publishes them."""
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.broker, acks="all")
        try:
            for alert in alerts:
                producer.send(
                    self.topics["alerts"], key=alert["conversation_id"].encode(), value=json.dumps(alert).encode()
                ).get(30)
        finally:
            producer.close()

    def store(self):
        """The console's own store (the same SQLite file), for what a test reads back; close it after."""
        from streams.console.store import AlertStore

        return AlertStore.open(self.db_url)

    def consume(self, topic: str, until: Callable[[list[dict]], bool], timeout: float = 60) -> list[dict]:
        return consume(self.broker, self.topics[topic], until, timeout)


def sign_in(context, base_url: str, token: str):
    """A page of ``context`` signed in to the console (it lands on the queue)."""
    page = context.new_page()
    page.goto(base_url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_selector("#queue")
    return page


def wait_live(page, timeout_ms: float = 60_000) -> None:
    """Until the page's live feed (EventSource on /events) is connected."""
    page.wait_for_function("document.querySelector('#live-status').dataset.state === 'live'", timeout=timeout_ms)


class Harness:
    """What a test or a test module runs beside the session broker, started as asked: Prometheus,
    a worker with a console, delivery workers, consoles and loopback receivers. ``close`` stops
    everything it started, newest first, also when the test errored, then fails if a worker or
    console had exited with an error (its log's tail in the message)."""

    def __init__(self, broker_address: str, workdir: Path) -> None:
        self.broker = broker_address
        self.workdir = workdir
        self._stack = ExitStack()
        self._failed: list[str] = []

    def prometheus(self, config: str) -> int:
        """A real Prometheus scraping per ``config``; its port."""
        return self._stack.enter_context(running_prometheus(self.workdir, config))

    def worker_and_console(self, env: dict[str, str], ready_timeout: float = 180) -> None:
        self._stack.enter_context(running_worker_and_console(self.broker, self.workdir, env, ready_timeout))

    def receivers(self) -> RecordingReceivers:
        return self.running(RecordingReceivers())

    def running(self, server: Any) -> Any:
        """Any server with ``start()`` (returning it) and ``stop()``, e.g. a counting webhook receiver."""
        started = server.start()
        self._stack.callback(server.stop)
        return started

    def delivery(self, config: str, env: dict[str, str]) -> DeliveryStack:
        running = DeliveryStack(self.broker, self._subdir("delivery"), config, env)
        self._stack.callback(self._stop, "delivery worker", running)
        return running.start()

    def console(self, tokens: dict[str, dict[str, str]]) -> ConsoleProcess:
        running = ConsoleProcess(self.broker, self._subdir("console"), tokens)
        self._stack.callback(self._stop, "console", running)
        return running.start()

    def close(self) -> None:
        self._stack.close()
        assert not self._failed, "\n\n".join(self._failed)

    def _subdir(self, name: str) -> Path:
        path = self.workdir / f"{name}-{len(self._stack._exit_callbacks)}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _stop(self, name: str, running: DeliveryStack | ConsoleProcess) -> None:
        code = running.stop()
        if code != 0:
            log = getattr(running, "log", None)
            self._failed.append(f"the {name} exited with {code}:\n{log.read_text()[-3000:] if log else ''}")


@pytest.fixture
def harness(broker, tmp_path) -> Iterator[Harness]:
    started = Harness(broker.address, tmp_path)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def module_harness(broker, tmp_path_factory, request) -> Iterator[Harness]:
    started = Harness(broker.address, tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    try:
        yield started
    finally:
        started.close()
