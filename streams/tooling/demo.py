"""``turnwatch demo``: embedded broker + worker, replay of the shipped examples, a live alert feed."""

from __future__ import annotations

import json
import secrets
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from kafka import KafkaConsumer
from rich.console import Console

from streams.examples import example_paths
from streams.ingest.files import read_records
from streams.ingest.replay import replay
from streams.kafka.broker import EmbeddedBroker, free_port, wait_for_port
from streams.kafka.processes import stop_process
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.testing.workers import metric_total, spawn_worker, wait_ready
from streams.tooling.alert_render import print_alert
from streams.tooling.cli_support import stdout_console
from streams.topology import created_before_start


class AlertFeed(threading.Thread):
    """Prints alerts from the alerts topic as they arrive."""

    def __init__(self, bootstrap: str, topic: str, console: Console) -> None:
        super().__init__(name="alert-feed", daemon=True)
        self.bootstrap, self.topic, self.console = bootstrap, topic, console
        self.stopping = threading.Event()
        self.count = 0

    def run(self) -> None:
        consumer = KafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            client_id="turnwatch-demo-feed",
        )
        try:
            while not self.stopping.is_set():
                for records in consumer.poll(timeout_ms=250).values():
                    for record in records:
                        self.show(json.loads(record.value))
        finally:
            consumer.close()

    def show(self, alert: dict) -> None:
        self.count += 1
        print_alert(self.console, alert)


def start_demo_console(settings: Settings, broker: str, data_dir: Path) -> tuple[str, str]:
    """The reviewer console beside the demo's worker, with a fresh reviewer token; (URL, token)."""
    from streams.console.service import start_console_thread

    token = secrets.token_urlsafe(12)
    tokens = data_dir / "console-tokens.yaml"
    tokens.write_text(yaml.safe_dump({token: {"user": "demo-reviewer", "role": "reviewer"}}))
    tokens.chmod(0o600)
    port = settings.console_port if not wait_for_port("127.0.0.1", settings.console_port, 0.05) else free_port()
    console_settings = settings.model_copy(
        update={
            "broker": broker,
            "console_port": port,
            "console_tokens_file": tokens,
            "console_db_url": f"sqlite:///{(data_dir / 'console.db').resolve()}",
            "app_id": f"{settings.app_id}-demo-{token[:6]}",
        }
    )
    urls: list[str] = []
    start_console_thread(console_settings, on_ready=urls.append)
    return urls[0], token


def _interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second signal must not cut the clean-up short
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    raise KeyboardInterrupt


def run_demo(settings: Settings, paths: Sequence[str] = (), duration: float | None = None, speed: float = 40.0) -> int:
    # `kill <demo pid>` and a closed terminal stop it like Ctrl-C: the worker and the broker are its
    # children in their own sessions, so only the demo can stop them.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    console = stdout_console()
    data_dir = Path(settings.data_dir) / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    web_port = settings.web_port if not wait_for_port("127.0.0.1", settings.web_port, 0.05) else free_port()
    records = list(read_records(paths or example_paths()))
    console.rule("[bold]turnwatch demo")
    with EmbeddedBroker(log_file=data_dir / "tansu.log") as broker:
        console.print(f"embedded broker (tansu) on {broker.address}")
        ensure_topics(
            broker.address,
            created_before_start(settings, console=True),
            settings.partitions,
        )
        worker = spawn_worker(broker.address, web_port, data_dir / "worker.log")
        feed = AlertFeed(broker.address, settings.alerts_topic, console)
        try:
            try:
                wait_ready(web_port, timeout=180, process=worker)
            except (RuntimeError, TimeoutError) as failed:
                console.print(f"[red]{failed}; see {data_dir}/worker.log", highlight=False)
                return 1
            started = time.monotonic()  # --duration counts from here: the replay, not the start-up
            console.print(
                f"worker ready: metrics at http://127.0.0.1:{web_port}/metrics  (logs: {data_dir}/worker.log)"
            )
            console_url, token = start_demo_console(settings, broker.address, data_dir)
            console.print(
                f"reviewer console: [bold]{console_url}/login[/]  sign in with token [bold]{token}[/] "
                "(open an alert, then acknowledge it or mark a verdict)",
                highlight=False,
            )
            feed.start()
            console.print(
                f"replaying {len(records)} turns at {speed or 'full'}× speed; alerts appear below (Ctrl-C to stop)\n"
            )
            sender = threading.Thread(
                target=replay,
                args=(records, broker.address, settings.turns_topic),
                kwargs={"speed": speed or None},
                daemon=True,
            )
            sender.start()
            while duration is None or duration <= 0 or time.monotonic() - started < duration:
                time.sleep(0.25)
                if worker.poll() is not None:
                    console.print(f"[red]worker exited with code {worker.returncode}; see {data_dir}/worker.log")
                    return 1
        except KeyboardInterrupt:
            console.print("\nstopping…")
        finally:
            try:
                processed = metric_total(web_port, "turnwatch_turns_total")
            except OSError:
                processed = float("nan")
            feed.stopping.set()
            stop_process(worker)
        console.rule()
        console.print(
            f"turns sent: {len(records)}, processed by the worker: {processed:.0f}, alerts shown: {feed.count}"
        )
    return 0
