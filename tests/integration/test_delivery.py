"""Delivery and restarts end to end: real broker, real worker processes, a real HTTP receiver."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
import uuid

import pytest
from kafka import KafkaProducer

from streams.delivery.signing import signed_headers
from streams.kafka.broker import free_port
from streams.kafka.processes import stop_process
from streams.kafka.topics import ensure_topics
from streams.testing.counting_receiver import Receiver
from streams.testing.isolation import isolated
from streams.testing.workers import metric_lines, spawn_worker, wait_ready
from tests.factories import alert_record
from tests.integration.conftest import consume

pytestmark = pytest.mark.integration
SECRET = "delivery-test-secret"


def config_yaml(url: str, cooldown: float = 0) -> str:
    return f"""
cooldown_seconds: {cooldown}
max_attempts: 60
backoff_initial_seconds: 0.2
backoff_max_seconds: 1.0
excerpt_chars: 60
receivers:
  - name: oncall
    kind: webhook
    url: "{url}"
    secret: {{env: TW_WEBHOOK_SECRET}}
routes:
  - receivers: [oncall]
"""


class Stack:
    """Topics, a delivery config and worker processes that can be killed and restarted."""

    def __init__(self, broker, tmp_path, receiver: Receiver, cooldown: float = 0) -> None:
        own = isolated("delivery")
        self.broker = broker.address
        self.topics = own.topics
        config = tmp_path / "delivery.yaml"
        config.write_text(config_yaml(receiver.url, cooldown))
        self.env = {
            **own.env,
            "TURNWATCH_DELIVERY_CONFIG": str(config),
            "TW_WEBHOOK_SECRET": SECRET,
            "TURNWATCH_DATA_DIR": str(tmp_path),
        }
        created = ("turns", "alerts", "dlq", "delivery_retry", "delivery_dlq")
        ensure_topics(self.broker, [self.topics[role] for role in created], partitions=4)
        self.tmp_path = tmp_path
        self.process = None
        self.port = None

    def start_worker(self, name: str) -> None:
        self.port = free_port()
        self.log = self.tmp_path / f"{name}.log"
        self.process = spawn_worker(self.broker, self.port, self.log, extra_env=self.env)
        try:
            wait_ready(self.port, timeout=90, process=self.process)
        except Exception:
            stop_process(self.process)
            raise AssertionError(self.log.read_text()[-4000:]) from None

    def kill_worker(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop_worker(self) -> None:
        assert stop_process(self.process) == 0, self.log.read_text()[-3000:]

    def close(self) -> None:
        """Stop a worker a failed test left running (it would otherwise outlive the test run)."""
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)

    def publish_alerts(self, alerts: list[dict]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.broker, acks="all")
        for alert in alerts:
            producer.send(
                self.topics["alerts"], key=alert["conversation_id"].encode(), value=json.dumps(alert).encode()
            )
        producer.flush()
        producer.close()

    def metric(self, series: str) -> float:
        """One exact series, e.g. 'turnwatch_deliveries_total{outcome="delivered",sink="webhook"}'."""
        return sum(float(line.rsplit(" ", 1)[1]) for line in metric_lines(self.port) if line.startswith(series))


def make_alert(
    n: int,
    conversation: str | None = None,
    rule: str = "therapist.malformed",
    severity: str = "high",
    quote: str = "Reach me at sam@example.org if the app fails",
) -> dict:
    alert_id = f"alert-{uuid.uuid4().hex[:6]}-{n}"
    record = alert_record(conversation or f"conv-{n}", rule, severity, alert_id, quote, turn_index=n, role="therapist")
    return record | {"score": 1.0, "summary": f"test alert {n}", "suggested_action": "none"}


@pytest.fixture
def receiver():
    running = Receiver(SECRET.encode()).start()
    yield running
    running.stop()


@pytest.fixture
def make_stack(broker, tmp_path, receiver):
    made: list[Stack] = []

    def make(cooldown: float = 0) -> Stack:
        made.append(Stack(broker, tmp_path, receiver, cooldown))
        return made[-1]

    yield make
    for stack in made:
        stack.close()


def test_the_receiver_accepts_signed_bodies_and_rejects_tampered_or_stale_ones(receiver):
    body = json.dumps({"alert_id": "x"}).encode()

    def post(data, headers):
        request = urllib.request.Request(receiver.url, data=data, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert post(body, signed_headers(SECRET.encode(), body)) == 200
    assert post(body + b" ", signed_headers(SECRET.encode(), body)) == 401
    assert post(body, signed_headers(SECRET.encode(), body, now=time.time() - 3600)) == 401
    assert post(body, signed_headers(b"wrong", body)) == 401
    assert receiver.rejected_signatures == 3


def test_an_outage_then_recovery_delivers_every_alert_exactly_once(make_stack, receiver):
    stack = make_stack()
    receiver.status = 500
    stack.start_worker("worker")
    alerts = [make_alert(n) for n in range(12)]
    stack.publish_alerts(alerts)
    assert receiver.wait_until(lambda: len(receiver.attempts) == len(alerts) and min(receiver.attempts.values()) >= 2)
    receiver.status = 200
    assert receiver.wait_until(lambda: len(receiver.accepted) == len(alerts))
    time.sleep(2)  # anything extra would arrive now
    assert {a["alert_id"] for a in alerts} == set(receiver.accepted)
    assert set(receiver.accepted.values()) == {1}
    assert stack.metric('turnwatch_deliveries_total{outcome="delivered",sink="webhook"}') == len(alerts)
    assert stack.metric('turnwatch_deliveries_total{outcome="retried",sink="webhook"}') >= len(alerts)
    delivered = [json.loads(b) for b in receiver.bodies]
    assert all("example.org" not in json.dumps(d) for d in delivered), "emails are redacted before delivery"
    stack.stop_worker()


def test_a_killed_worker_restarted_during_an_outage_still_delivers_exactly_once(make_stack, receiver):
    stack = make_stack()
    receiver.status = 503
    stack.start_worker("first")
    alerts = [make_alert(n) for n in range(10)]
    stack.publish_alerts(alerts)
    assert receiver.wait_until(lambda: len(receiver.attempts) == len(alerts))
    stack.kill_worker()
    stack.start_worker("second")
    assert receiver.wait_until(lambda: sum(receiver.attempts.values()) >= 2 * len(alerts), timeout=60)
    receiver.status = 200
    assert receiver.wait_until(lambda: len(receiver.accepted) == len(alerts))
    time.sleep(3)
    lost = {a["alert_id"] for a in alerts} - set(receiver.accepted)
    duplicated = {k: n for k, n in receiver.accepted.items() if n > 1}
    print(
        f"delivered={len(receiver.accepted)} lost={len(lost)} duplicated={len(duplicated)} "
        f"attempts={sum(receiver.attempts.values())}"
    )
    assert not lost and not duplicated
    dead = consume(stack.broker, stack.topics["delivery_dlq"], lambda records: False, timeout=2)
    assert dead == []
    stack.stop_worker()


def test_cooldown_suppresses_repeats_and_lets_a_higher_severity_through(make_stack, receiver):
    stack = make_stack(cooldown=600)
    stack.start_worker("worker")
    first = make_alert(1, conversation="conv-cool", rule="loop.patient_refrain", severity="warning")
    repeat = make_alert(2, conversation="conv-cool", rule="loop.patient_refrain", severity="warning")
    other_rule = make_alert(3, conversation="conv-cool", rule="loop.cycle", severity="warning")
    higher = make_alert(4, conversation="conv-cool", rule="loop.patient_refrain", severity="high")
    stack.publish_alerts([first, repeat, other_rule, higher])
    assert receiver.wait_until(lambda: len(receiver.accepted) >= 3)
    time.sleep(2)
    assert set(receiver.accepted) == {first["alert_id"], other_rule["alert_id"], higher["alert_id"]}
    assert stack.metric('turnwatch_deliveries_total{outcome="suppressed",sink="webhook"}') == 1
    stack.stop_worker()


def test_a_killed_worker_keeps_conversation_state_through_its_changelog(make_stack, receiver):
    from streams.ingest.files import Record
    from streams.ingest.replay import replay
    from streams.tooling.synthetic import conversations

    def publish(turns: list[dict]) -> None:
        records = [Record(key=t["conversation_id"], value=json.dumps(t).encode(), ts=None) for t in turns]
        assert replay(records, stack.broker, stack.topics["turns"]).sent == len(records)

    stack = make_stack()
    chats = list(conversations(3, seed=9))
    stack.start_worker("first")
    publish([t for chat in chats for t in chat[:10]])
    assert receiver.wait_until(lambda: stack.metric("turnwatch_turns_total") == 30, timeout=60)
    assert stack.metric("turnwatch_state_writes_total") < 30, "state is written once per conversation per micro-batch"
    time.sleep(4)  # past one offset commit, so the restarted worker starts after these turns
    stack.kill_worker()
    stack.start_worker("second")
    publish([t for chat in chats for t in chat[5:15]])
    assert receiver.wait_until(
        lambda: stack.metric("turnwatch_turns_total") >= 15 and stack.metric("turnwatch_duplicate_turns_total") >= 15,
        timeout=60,
    )
    time.sleep(2)
    # Only turns 10–14 are new to a worker that recovered the state; one that lost it would take
    # turn 5 as a first turn after a gap and process every replayed turn again.
    assert stack.metric("turnwatch_turns_total") == 15
    assert stack.metric("turnwatch_turn_gaps_total") == 0
    stack.stop_worker()


def test_an_unreadable_alert_is_dead_lettered_and_counted_and_the_next_one_still_delivered(make_stack, receiver):
    stack = make_stack()
    stack.start_worker("worker")
    readable = make_alert(1)
    producer = KafkaProducer(bootstrap_servers=stack.broker, acks="all")
    for value in (b"{not json", json.dumps({**make_alert(0), "severity": "urgent"}).encode()):
        producer.send(stack.topics["alerts"], key=b"conv-1", value=value)
    producer.send(stack.topics["alerts"], key=b"conv-1", value=json.dumps(readable).encode())
    producer.flush()
    producer.close()
    assert receiver.wait_until(lambda: readable["alert_id"] in receiver.accepted)
    dead = consume(stack.broker, stack.topics["delivery_dlq"], lambda records: len(records) >= 2)
    assert [d["reason"] for d in dead] == ["unreadable_alert", "unreadable_alert"]
    assert "severity" in dead[1]["detail"] and dead[1]["source"]["topic"] == stack.topics["alerts"]
    assert stack.metric('turnwatch_delivery_dead_letters_total{reason="unreadable_alert"}') == 2
    stack.stop_worker()
