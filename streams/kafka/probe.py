"""Is a Kafka broker listening at the bootstrap address? Asked before a command starts its
clients, so an unreachable broker is one line naming the address, not retries and a traceback."""

from __future__ import annotations

import socket
import time

from streams.errors import BrokerError

HINT = "start one (`turnwatch broker`) or pass --broker HOST:PORT / set TURNWATCH_BROKER"


def _connect_error(bootstrap: str, timeout: float) -> str | None:
    """None when some bootstrap address accepts a TCP connection, else the last reason."""
    reason = "no address"
    for part in bootstrap.split(","):
        host, _, port = part.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
    return reason.lower()


def require_broker(bootstrap: str, wait_seconds: float = 0.0, connect_timeout: float = 3.0) -> None:
    """Return once the broker accepts connections; raise ``BrokerError`` after ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while (reason := _connect_error(bootstrap, connect_timeout)) is not None:
        if time.monotonic() >= deadline:
            waited = f" after waiting {wait_seconds:.0f}s" if wait_seconds else ""
            raise BrokerError(f"cannot reach a Kafka broker at {bootstrap} ({reason}{waited}); {HINT}")
        time.sleep(0.5)
