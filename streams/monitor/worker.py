"""Running the Faust worker, against a given broker or an embedded one."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from faust.exceptions import ConsistencyError

from streams.kafka.broker import EMBEDDED_PRODUCER_MAX_BATCH_SIZE, EMBEDDED_SESSION_TIMEOUT, EmbeddedBroker
from streams.logs import logging_config
from streams.monitor.app import create_app
from streams.monitor.shutdown import GracefulWorker
from streams.monitor.startup import process_age, record_phase
from streams.settings import Settings
from streams.topology import created_before_start

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


def crash_advice(reason: BaseException | None, settings: Settings) -> str:
    """What crashed, and what to do when the operator can act on it."""
    if reason is None:
        return "see the log above"
    if isinstance(reason, ConsistencyError):
        return (
            f"{reason!r}. The table store under {settings.data_dir / 'faust'} is ahead of its changelog: the "
            "topic was recreated or the broker lost data (an embedded broker keeps nothing across its own "
            "restart). Remove that directory and start again; the worker rebuilds it from the changelog."
        )
    return repr(reason)


def run_worker(settings: Settings) -> None:
    from streams.kafka.security import kafka_python_options
    from streams.kafka.topics import ensure_topics

    imports = process_age()
    if imports is not None:
        record_phase("imports", imports)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(settings, log_file=settings.data_dir / "tansu.log") as ready:
        app = create_app(ready)
        # Create the topics with the configured partitions rather than let a broker auto-create them.
        ensure_topics(
            ready.broker,
            created_before_start(ready, console=ready.console_in_worker),
            ready.partitions,
            kafka_python_options(ready),
        )
        worker = GracefulWorker(
            app,
            grace_seconds=ready.shutdown_grace_seconds,
            loglevel=ready.log_level,
            logging_config=logging_config(ready.log_level, ready.log_format),
            quiet=True,
        )
        if ready.console_in_worker:
            from streams.console.service import start_console_thread

            start_console_thread(ready, on_ready=lambda url: log.info("reviewer console on %s", url))
        # The models and libraries are ~440k long-lived objects; a full collection walks them
        # all (~220 ms here) and stalls every turn in flight. Frozen, they are never walked.
        gc.freeze()
        try:
            worker.execute_from_commandline()
        except SystemExit as stopped:
            # mode exits 1 after a crash; that code must reach the caller (an orchestrator, the
            # bench, the demo), never a 0 that reads as a clean stop.
            if stopped.code not in (None, 0):
                log.error("the worker stopped after a crash: %s", crash_advice(worker.crash_reason, ready))
                raise
