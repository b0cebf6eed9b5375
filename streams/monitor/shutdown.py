"""A worker stops within its grace period, even when its broker has gone away.

Faust's clean stop flushes the producer and commits offsets; with no broker to answer it waits
on those for 20–60 s. Stopping hard is safe here (it is what SIGKILL does, and the crash test
proves SIGKILL loses nothing: alerts are acknowledged before state, state before offsets), so
after ``grace_seconds`` the watchdog ends the process.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import faust

log = logging.getLogger(__name__)

EXIT_AFTER_GRACE = 75  # EX_TEMPFAIL: the stop was cut short; a restart replays from the committed offset


class ShutdownWatchdog:
    """Once armed, ends the process with ``EXIT_AFTER_GRACE`` unless it is gone within ``grace_seconds``."""

    def __init__(self, grace_seconds: float, end: Callable[[int], None] = os._exit) -> None:
        self.grace_seconds = grace_seconds
        self._end = end
        self._armed = threading.Event()
        self.fired = threading.Event()

    def arm(self) -> None:
        if self._armed.is_set():
            return
        self._armed.set()
        threading.Thread(target=self._wait, name="shutdown-watchdog", daemon=True).start()

    def _wait(self) -> None:
        time.sleep(self.grace_seconds)  # a process that stopped in time takes this daemon thread with it
        log.error(
            "still stopping after %.0f s (broker unreachable?); exiting now: uncommitted turns are read again "
            "after a restart",
            self.grace_seconds,
        )
        self.fired.set()
        self._end(EXIT_AFTER_GRACE)


class GracefulWorker(faust.Worker):
    """A Faust worker whose SIGTERM and SIGINT arm a ``ShutdownWatchdog``."""

    def __init__(self, *args: object, grace_seconds: float, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.watchdog = ShutdownWatchdog(grace_seconds)

    def _on_sigterm(self) -> None:
        self.watchdog.arm()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self.watchdog.arm()
        super()._on_sigint()
