"""Running the Faust worker, against a given broker or an embedded one."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import faust

from streams.app import create_app
from streams.logs import logging_config
from streams.runtime.broker import EMBEDDED_PRODUCER_MAX_BATCH_SIZE, EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker
from streams.settings import Settings

log = logging.getLogger(__name__)


def tuned_for_tansu(settings: Settings, address: str) -> Settings:
    """Point settings at a tansu broker with the settings its quirks need."""
    return settings.model_copy(
        update={
            "broker": address,
            "session_timeout": min(settings.session_timeout, EMBEDDED_SESSION_TIMEOUT),
            "producer_max_batch_size": EMBEDDED_PRODUCER_MAX_BATCH_SIZE,
        }
    )


@contextmanager
def broker_for(settings: Settings, log_file: Path | None = None) -> Iterator[Settings]:
    """Yield settings with a reachable broker: the configured one, or an embedded tansu."""
    if settings.broker is not None:
        yield settings
        return
    with EmbeddedBroker(log_file=log_file) as broker:
        log.info("started embedded broker at %s", broker.address)
        yield tuned_for_tansu(settings, broker.address)


def topics_of(settings: Settings) -> list[str]:
    return [
        settings.turns_topic,
        settings.alerts_topic,
        settings.dlq_topic,
        settings.delivery_retry_topic,
        settings.delivery_dlq_topic,
    ]


def run_worker(settings: Settings) -> None:
    from streams.runtime.kafka_security import kafka_python_options
    from streams.runtime.replay import ensure_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(settings, log_file=settings.data_dir / "tansu.log") as ready:
        app = create_app(ready)
        # Create the topics with the configured partitions rather than let a broker auto-create them.
        ensure_topics(ready.broker, topics_of(ready), ready.partitions, kafka_python_options(ready))
        worker = faust.Worker(
            app,
            loglevel=ready.log_level,
            logging_config=logging_config(ready.log_level, ready.log_format),
            quiet=True,
        )
        if ready.console_in_worker:
            from streams.runtime.console.service import start_console_thread

            ensure_topics(ready.broker, [ready.verdicts_topic], ready.partitions, kafka_python_options(ready))
            start_console_thread(ready, on_ready=lambda url: log.info("reviewer console on %s", url))
        # The models and libraries are ~440k long-lived objects; a full collection walks them
        # all (~220 ms here) and stalls every turn in flight. Frozen, they are never walked.
        gc.freeze()
        try:
            worker.execute_from_commandline()
        except SystemExit:
            pass


def spawn_worker(
    broker_address: str,
    web_port: int,
    log_path: Path,
    *,
    tansu: bool = True,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``turnwatch worker`` as a child process (used by the demo and the tests)."""
    env = {**os.environ, **(extra_env or {})}
    if tansu:
        env.setdefault("TURNWATCH_SESSION_TIMEOUT", str(EMBEDDED_SESSION_TIMEOUT))
        env.setdefault("TURNWATCH_PRODUCER_MAX_BATCH_SIZE", str(EMBEDDED_PRODUCER_MAX_BATCH_SIZE))
    command = [sys.executable, "-m", "streams.cli", "worker", "--broker", broker_address, "--web-port", str(web_port)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def wait_ready(web_port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Block until the worker's /readyz answers 200 (partitions assigned)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{web_port}/readyz"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"worker exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"worker not ready at {url} after {timeout}s")


def metric_lines(web_port: int) -> list[str]:
    """A worker's /metrics exposition, line by line."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=5) as response:
        return response.read().decode().splitlines()


def metric_total(web_port: int, name: str) -> float:
    """The sum of every series of one metric on a worker (all label values)."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in metric_lines(web_port) if line.startswith((name + "{", name + " "))
    )
