"""Bad events mixed with valid ones through the real broker: every valid turn is processed, every
bad event is dead-lettered once with its reason, and nothing takes its neighbours with it."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from kafka import KafkaProducer

from tests.integration.conftest import consume

pytestmark = pytest.mark.integration

CONVERSATIONS = 20
TURNS_EACH = 5


def valid(conversation: int, index: int) -> bytes:
    role = "patient" if index % 2 == 0 else "system"
    return json.dumps(
        {
            "event_id": f"ok-{conversation}-{index}",
            "conversation_id": f"ok-{conversation}",
            "turn_index": index,
            "role": role,
            "text": f"Turn {index}: an ordinary day at work.",
            "ts": "2026-01-01T00:00:00Z",
        }
    ).encode()


def bad_events(rng: random.Random) -> list[tuple[bytes, str]]:
    """(raw value, expected dead-letter reason); 1,006 of them."""
    base = {
        "event_id": "b",
        "conversation_id": "bad",
        "turn_index": 0,
        "role": "patient",
        "text": "hi",
        "ts": "2026-01-01T00:00:00Z",
    }
    kinds = [
        (lambda i: b"\xff\xfe not utf-8 %d" % i, "invalid_json"),
        (lambda i: b"{broken json %d" % i, "invalid_json"),
        (lambda i: json.dumps([i]).encode(), "invalid_json"),
        (lambda i: json.dumps({**base, "event_id": f"s{i}", "text": "\ud800"}).encode(), "schema"),
        (lambda i: json.dumps({**base, "event_id": f"t{i}", "turn_index": str(i)}).encode(), "schema"),
        (lambda i: json.dumps({**base, "event_id": f"r{i}", "role": "doctor"}).encode(), "schema"),
        (lambda i: json.dumps({**base, "event_id": f"m{i}", "meta": {"x": "y" * 40_000}}).encode(), "schema"),
        (lambda i: json.dumps({**base, "event_id": f"l{i}", "text": "z" * 20_000}).encode(), "text_too_large"),
    ]
    out = [kinds[i % len(kinds)][0](i) for i in range(999)]
    reasons = [kinds[i % len(kinds)][1] for i in range(999)]
    # One of about 900 KB whose dead letter, quoting it whole, would be too large to publish.
    out.append(json.dumps({**base, "event_id": "huge", "text": '"' * 900_000}).encode())
    reasons.append("text_too_large")
    # Nested a few thousand levels deep: json.loads raises RecursionError, not ValueError.
    for depth in (1_000, 5_000, 50_000):
        out.append(b"[" * depth + b"]" * depth)
        out.append(b'{"a":' * depth + b"1" + b"}" * depth)
        reasons += ["invalid_json", "invalid_json"]
    pairs = list(zip(out, reasons))
    rng.shuffle(pairs)
    return pairs


def test_a_thousand_bad_events_never_take_a_valid_turn_with_them(worker):
    rng = random.Random(15)
    bad = bad_events(rng)
    good = [valid(c, i) for i in range(TURNS_EACH) for c in range(CONVERSATIONS)]
    # Valid turns in order within each conversation, bad events scattered between them, all on
    # one key so they share partitions and micro-batches.
    stream: list[bytes] = []
    slots = sorted(rng.sample(range(len(bad) + len(good)), len(good)))
    good_iter, bad_iter = iter(good), iter(raw for raw, _ in bad)
    for position in range(len(bad) + len(good)):
        stream.append(next(good_iter) if slots and position == slots[0] else next(bad_iter))
        if slots and position == slots[0]:
            slots.pop(0)
    producer = KafkaProducer(bootstrap_servers=worker.broker, max_request_size=4 * 1024 * 1024, linger_ms=5)
    before_turns = worker.metric_sum("turnwatch_turns_total")
    before_dead = worker.metric_sum("turnwatch_dead_letters_total")
    for raw in stream:
        producer.send(worker.topics["turns"], key=b"poison", value=raw)
    producer.flush(timeout=60)
    producer.close()

    assert worker.wait_for_metric("turnwatch_turns_total", before_turns + len(good), timeout=180) == before_turns + len(
        good
    )
    assert worker.wait_for_metric(
        "turnwatch_dead_letters_total", before_dead + len(bad), timeout=180
    ) == before_dead + len(bad)
    records = consume(worker.broker, worker.topics["dlq"], lambda rs: len(rs) >= len(bad), timeout=120)
    assert Counter(r["reason"] for r in records) == Counter(reason for _, reason in bad)  # once each, right reason
    assert all(r["source"]["topic"] == worker.topics["turns"] for r in records)
    cut = [r["original"] for r in records if isinstance(r["original"], dict) and "sha256" in r["original"]]
    (huge,) = [original for original in cut if original["bytes"] > 900_000]
    assert len(huge["truncated"]) <= 4096
    assert all(len(original["truncated"]) <= 4096 for original in cut)  # the 50,000-deep ones are cut too
