"""A worker whose broker has gone away still stops on SIGTERM, within its grace period."""

import signal
import subprocess

import pytest

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.processes import stop_process
from streams.monitor.shutdown import EXIT_AFTER_GRACE
from streams.testing.workers import spawn_worker, wait_ready

pytestmark = pytest.mark.integration


def test_sigterm_with_the_broker_gone_ends_the_worker_after_its_grace_period(tmp_path):
    with EmbeddedBroker(log_file=tmp_path / "tansu.log") as broker:
        port = free_port()
        log = tmp_path / "worker.log"
        worker = spawn_worker(
            broker.address,
            port,
            log,
            extra_env={"TURNWATCH_DATA_DIR": str(tmp_path), "TURNWATCH_SHUTDOWN_GRACE_SECONDS": "2"},
        )
        try:
            wait_ready(port, timeout=180, process=worker)
            broker.stop()
            worker.send_signal(signal.SIGTERM)
            # A clean stop with no broker waits 20-60 s on the producer and the commit; the watchdog
            # ends it first, with its own exit code and a log line saying why.
            try:
                code = worker.wait(timeout=120)
            except subprocess.TimeoutExpired:
                pytest.fail("the worker ignored SIGTERM for 120 s")
            assert code == EXIT_AFTER_GRACE, log.read_text()[-2000:]
            assert "still stopping after 2 s" in log.read_text()
        finally:
            stop_process(worker)
