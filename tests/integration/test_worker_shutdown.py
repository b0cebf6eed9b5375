"""A worker whose broker has gone away still stops on SIGTERM, within its grace period."""

import json
import signal
import subprocess
import time

import pytest
from kafka import KafkaProducer

from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.processes import stop_process
from streams.monitor.shutdown import EXIT_AFTER_GRACE
from streams.testing.isolation import isolated
from streams.testing.workers import metric_total, spawn_worker, wait_ready

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


def test_a_worker_whose_table_store_is_ahead_of_its_changelog_exits_non_zero_and_says_what_to_do(tmp_path):
    # What broke `make bench` (e) when run twice: RocksDB files from a run against an earlier
    # (in-memory) broker. Faust refuses them; the worker used to turn that crash into exit code 0.
    own = isolated("store-ahead")
    env = {**own.env, "TURNWATCH_DATA_DIR": str(tmp_path / "data"), "TURNWATCH_TABLE_STORE": "rocksdb"}
    turns = [
        json.dumps(
            {
                "event_id": f"c-{i}:{i}",
                "conversation_id": f"c-{i % 3}",
                "turn_index": i // 3,
                "role": "patient" if (i // 3) % 2 == 0 else "therapist",
                "text": "I had a long week at work and slept badly.",
                "ts": "2026-12-04T10:00:00Z",
            }
        ).encode()
        for i in range(12)
    ]
    with EmbeddedBroker(log_file=tmp_path / "first.log") as first:
        port = free_port()
        worker = spawn_worker(first.address, port, tmp_path / "worker-1.log", extra_env=env)
        try:
            wait_ready(port, timeout=180, process=worker)
            producer = KafkaProducer(bootstrap_servers=first.address)
            for value in turns:
                producer.send(own.topics["turns"], key=json.loads(value)["conversation_id"].encode(), value=value)
            producer.flush()
            producer.close()
            deadline = time.monotonic() + 120
            while metric_total(port, "turnwatch_turns_total") < len(turns) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert metric_total(port, "turnwatch_turns_total") >= len(turns)
        finally:
            assert stop_process(worker, timeout=60) == 0
    with EmbeddedBroker(log_file=tmp_path / "second.log") as second:
        log = tmp_path / "worker-2.log"
        worker = spawn_worker(second.address, free_port(), log, extra_env=env)
        try:
            code = worker.wait(timeout=180)
        finally:
            stop_process(worker)
        assert code != 0, log.read_text()[-2000:]
        assert "is ahead of its changelog" in log.read_text()
