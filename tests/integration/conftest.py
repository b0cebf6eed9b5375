"""One broker fixture for every integration test: a real tansu process on loopback."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from streams.runtime.broker import EmbeddedBroker, free_port
from streams.runtime.processes import stop_process
from streams.runtime.replay import ensure_topics
from streams.runtime.worker import spawn_worker, wait_ready

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def broker(tmp_path_factory) -> EmbeddedBroker:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_file=log) as running:
        yield running


@dataclass
class WorkerHandle:
    broker: str
    web_port: int
    topics: dict[str, str]
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def metric_sum(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k == prefix or k.startswith(prefix + "{"))

    def wait_for_metric(self, prefix: str, at_least: float, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        value = self.metric_sum(prefix)
        while value < at_least and time.monotonic() < deadline:
            time.sleep(0.25)
            value = self.metric_sum(prefix)
        return value


def consume(bootstrap: str, topic: str, until: Callable[[list[dict]], bool], timeout: float = 60) -> list[dict]:
    """Read a topic from the start until ``until(records)`` holds or the timeout passes."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    records: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(records):
            for batch in consumer.poll(timeout_ms=250).values():
                records.extend(json.loads(r.value) for r in batch)
    finally:
        consumer.close()
    return records


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory, request) -> WorkerHandle:
    """A real `turnwatch worker` process with its own app id and topics."""
    suffix = uuid.uuid4().hex[:8]
    topics = {"turns": f"turns-{suffix}", "alerts": f"alerts-{suffix}", "dlq": f"dlq-{suffix}"}
    env = {
        "TURNWATCH_APP_ID": f"tw-test-{suffix}",
        "TURNWATCH_TURNS_TOPIC": topics["turns"],
        "TURNWATCH_ALERTS_TOPIC": topics["alerts"],
        "TURNWATCH_DLQ_TOPIC": topics["dlq"],
        "TURNWATCH_API_TOKEN": "test-token",
        "TURNWATCH_MAX_BODY_BYTES": "65536",
    }
    env.update(getattr(request.module, "WORKER_ENV", {}))
    ensure_topics(broker.address, list(topics.values()), partitions=4)
    port = free_port()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = spawn_worker(broker.address, port, log, extra_env={**env, "TURNWATCH_DATA_DIR": str(log.parent)})
    try:
        wait_ready(port, timeout=90, process=process)
    except Exception:
        stop_process(process)
        raise AssertionError(f"worker did not become ready:\n{log.read_text()[-4000:]}") from None
    yield WorkerHandle(broker.address, port, topics, env, log)
    # A graceful Faust stop waits for its streams; on two busy cores that took over 20 s once in CI.
    code = stop_process(process, timeout=60)
    assert code == 0, f"worker exited with {code}:\n{log.read_text()[-3000:]}"
