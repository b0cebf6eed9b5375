"""Kafka over TLS for real: a broker reachable only through TLS, every client configured from settings."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from streams.ingest.files import Record
from streams.ingest.replay import replay
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.processes import stop_process
from streams.kafka.security import kafka_python_options
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.testing.isolation import isolated
from streams.testing.workers import spawn_worker, wait_ready
from tests import factories
from tests.integration.tls_proxy import TlsProxy, make_certificates

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_certificates(directory)
    proxy_port = free_port()
    with EmbeddedBroker(advertised=f"127.0.0.1:{proxy_port}", log_file=directory / "tansu.log") as broker:
        proxy = TlsProxy(proxy_port, broker.port, cert, key).start()
        yield f"127.0.0.1:{proxy_port}", ca, proxy
        proxy.stop()


def turn(conversation: str, index: int, text: str) -> dict:
    return factories.turn(
        index, "patient" if index % 2 == 0 else "therapist", text, conversation, ts=f"2026-01-01T10:{index:02d}:00Z"
    )


def test_replay_and_admin_connect_over_tls_with_the_ca_from_settings(tls_broker):
    address, ca, proxy = tls_broker
    settings = Settings(broker=address, security_protocol="SSL", ssl_cafile=ca)
    options = kafka_python_options(settings)
    topic = f"tls-{uuid.uuid4().hex[:6]}"
    ensure_topics(address, [topic], 2, options)
    records = [Record(key="c1", value=json.dumps(turn("c1", i, "hello")).encode(), ts=None) for i in range(5)]
    assert replay(records, address, topic, security=options).sent == 5
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=address,
        auto_offset_reset="earliest",
        group_id=None,
        consumer_timeout_ms=5000,
        **options,
    )
    assert len(list(consumer)) == 5
    consumer.close()
    assert proxy.handshakes >= 2


def test_a_plaintext_client_cannot_use_the_tls_listener(tls_broker):
    address, _, _ = tls_broker
    with pytest.raises(KafkaError):
        producer = KafkaProducer(bootstrap_servers=address, max_block_ms=3000, request_timeout_ms=3000)
        try:
            producer.send("anything", b"x").get(timeout=5)
        finally:
            producer.close(timeout=1)


def test_the_worker_consumes_and_alerts_over_tls(tls_broker, tmp_path):
    address, ca, _ = tls_broker
    own = isolated("tls")
    env = {
        "TURNWATCH_SECURITY_PROTOCOL": "SSL",
        "TURNWATCH_SSL_CAFILE": str(ca),
        **own.env,
        "TURNWATCH_DATA_DIR": str(tmp_path),
    }
    port = free_port()
    process = spawn_worker(address, port, tmp_path / "worker.log", extra_env=env)
    try:
        wait_ready(port, timeout=120, process=process)
        options = kafka_python_options(Settings(broker=address, security_protocol="SSL", ssl_cafile=ca))
        text = "I have decided to kill myself tonight, I have the pills ready and I have written the notes."
        records = [Record(key="c-tls", value=json.dumps(turn("c-tls", 0, text)).encode(), ts=None)]
        assert replay(records, address, env["TURNWATCH_TURNS_TOPIC"], security=options).sent == 1
        consumer = KafkaConsumer(
            env["TURNWATCH_ALERTS_TOPIC"],
            bootstrap_servers=address,
            auto_offset_reset="earliest",
            group_id=None,
            **options,
        )
        alerts, deadline = [], time.monotonic() + 90
        while not any(a["severity"] == "critical" for a in alerts) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                alerts.extend(json.loads(r.value) for r in batch)
        consumer.close()
        assert any(a["severity"] == "critical" and a["detector"] == "crisis" for a in alerts), alerts
    finally:
        assert stop_process(process, timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
