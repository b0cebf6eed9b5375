"""Workers as child processes, the way the demo, the crash test and the integration tests run them,
and read through their HTTP surface (/readyz, /metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from streams.kafka.broker import EMBEDDED_PRODUCER_MAX_BATCH_SIZE, EMBEDDED_SESSION_TIMEOUT


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


def wait_ready(
    web_port: int, timeout: float, process: subprocess.Popen[bytes] | None = None, poll: float = 0.2
) -> None:
    """Block until the worker's /readyz answers 200 (partitions assigned, tables recovered)."""
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
        time.sleep(poll)
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
