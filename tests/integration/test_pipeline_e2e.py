"""The spine end to end: replay → broker → worker → alerts / dead letters / metrics."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import SEEDS
from tests.factories import turn
from tests.integration.conftest import consume

pytestmark = pytest.mark.integration

SEED_TURNS = sum(sum(roles.values()) for roles in SEEDS.values())


def replay_cli(worker, *paths, extra=()):
    env = {**os.environ, **worker.env, "TURNWATCH_BROKER": worker.broker}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", "--quiet", *extra, *map(str, paths)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def replayed(worker, seed_paths, tmp_path_factory):
    bad = tmp_path_factory.mktemp("bad") / "bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                "{this is not json",
                json.dumps(
                    {
                        "event_id": "b1",
                        "conversation_id": "bad-1",
                        "turn_index": 0,
                        "role": "doctor",
                        "text": "hi",
                        "ts": "2026-01-01T00:00:00Z",
                    }
                ),
                json.dumps(
                    {
                        "event_id": "b2",
                        "conversation_id": "bad-2",
                        "turn_index": 0,
                        "role": "patient",
                        "text": "y" * 17000,
                        "ts": "2026-01-01T00:00:00Z",
                    }
                ),
            ]
        )
        + "\n"
    )
    first = replay_cli(worker, *seed_paths, bad)
    assert first.returncode == 0, first.stderr
    assert f"sent {SEED_TURNS + 3} turns" in first.stderr
    # At-least-once delivery upstream: the same seeds again must not be processed twice.
    again = replay_cli(worker, seed_paths[2])
    assert again.returncode == 0, again.stderr
    worker.wait_for_metric("turnwatch_duplicate_turns_total", 40)
    return worker


def test_every_turn_is_processed_exactly_once(replayed):
    processed = replayed.wait_for_metric("turnwatch_turns_total", SEED_TURNS)
    metrics = replayed.metrics()
    expected = {role: sum(s[role] for s in SEEDS.values()) for role in ("patient", "therapist")}
    assert processed == SEED_TURNS
    assert metrics['turnwatch_turns_total{role="patient"}'] == expected["patient"]
    assert metrics['turnwatch_turns_total{role="therapist"}'] == expected["therapist"]
    assert metrics["turnwatch_duplicate_turns_total"] == 40


def test_malformed_final_answer_of_004_reaches_the_alerts_topic(replayed):
    def found(records):
        return any(r["conversation_id"] == "T44" and r["rule"] == "therapist.malformed" for r in records)

    alerts = consume(replayed.broker, replayed.topics["alerts"], found)
    malformed = [a for a in alerts if a["conversation_id"] == "T44" and a["rule"] == "therapist.malformed"]
    assert len(malformed) == 1, alerts
    assert malformed[0]["turns"] == [39] and malformed[0]["severity"] == "high"
    assert malformed[0]["evidence"][0]["role"] == "therapist"
    # An episode is re-published only when its severity rises.
    keys = [(a["alert_id"], a["severity"]) for a in alerts]
    assert len(keys) == len(set(keys)), "an alert was published twice at the same severity"


def test_malformed_events_land_in_the_dlq_with_their_reason(replayed):
    records = consume(replayed.broker, replayed.topics["dlq"], lambda r: len(r) >= 3)
    by_reason = {r["reason"]: r for r in records}
    assert set(by_reason) == {"invalid_json", "schema", "text_too_large"}
    assert by_reason["schema"]["detail"].startswith("role")
    assert by_reason["invalid_json"]["original"] == "{this is not json"
    assert by_reason["text_too_large"]["source"]["topic"] == replayed.topics["turns"]
    metrics = replayed.metrics()
    for reason in by_reason:
        assert metrics[f'turnwatch_dead_letters_total{{reason="{reason}"}}'] == 1


def test_metrics_show_alerts_and_latency(replayed):
    replayed.wait_for_metric("turnwatch_alerts_total", 1)
    metrics = replayed.metrics()
    assert metrics['turnwatch_alerts_total{detector="therapist",severity="high"}'] >= 1
    assert metrics["turnwatch_turn_to_alert_seconds_count"] >= 1
    assert metrics['turnwatch_detector_seconds_count{detector="therapist"}'] >= 1
    assert 1 <= metrics["turnwatch_state_writes_total"] <= replayed.metric_sum("turnwatch_turns_total")
    assert abs(metrics["turnwatch_last_turn_processed_timestamp_seconds"] - time.time()) < 600
    assert not any("T44" in name or "000_84769077cb1426a9" in name for name in metrics)


def post(worker, body, token="test-token", raw=None, content_type="application/json"):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        worker.url + "/v1/turns", data=data, method="POST", headers={"Content-Type": content_type}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def http_turn(index, role="patient", text="I feel a bit better today."):
    return turn(index, role, text, "http-1", event_id=f"http-1:{index}", ts="2026-01-02T00:00:00Z")


def test_http_ingest_accepts_a_batch_and_the_worker_processes_it(replayed):
    before = replayed.metric_sum("turnwatch_turns_total")
    status, body = post(replayed, [http_turn(0), http_turn(1, "therapist", "")])
    assert (status, body) == (202, {"accepted": 2})
    assert replayed.wait_for_metric("turnwatch_turns_total", before + 2) == before + 2
    alerts = consume(
        replayed.broker, replayed.topics["alerts"], lambda rs: any(r["conversation_id"] == "http-1" for r in rs)
    )
    assert [a["turns"] for a in alerts if a["conversation_id"] == "http-1"] == [[1]]


def test_http_ingest_accepts_one_event(replayed):
    status, body = post(replayed, http_turn(2))
    assert (status, body) == (202, {"accepted": 1})


@pytest.mark.parametrize(
    "body, status, needle",
    [
        ([http_turn(5), {**http_turn(6), "role": "nurse"}], 422, "role"),
        ({**http_turn(7), "turn_index": "x"}, 422, "turn_index"),
        ({**http_turn(8), "schema_version": 2}, 422, "schema_version"),
        ([], 422, "empty"),
        ({**http_turn(8), "turn_index": "8"}, 422, "turn_index"),
        ({**http_turn(8), "turn_index": True}, 422, "turn_index"),
        ({**http_turn(8), "ts": 12345}, 422, "ts"),
        ({**http_turn(8), "text": "\ud800"}, 422, "not valid Unicode"),
    ],
)
def test_http_ingest_rejects_invalid_events_naming_the_field(replayed, body, status, needle):
    code, answer = post(replayed, body)
    assert code == status
    assert needle in json.dumps(answer)


def test_http_ingest_accepts_an_event_with_a_field_it_does_not_know(replayed):
    """A producer one schema ahead adds a field: the turn is still taken (and the field counted)."""
    before = replayed.metric_sum("turnwatch_unknown_fields_total")
    status, body = post(replayed, {**http_turn(11), "producer_region": "eu-west"})
    assert (status, body) == (202, {"accepted": 1})
    assert replayed.wait_for_metric("turnwatch_unknown_fields_total", before + 1) == before + 1


def test_http_ingest_needs_the_bearer_token(replayed):
    assert post(replayed, http_turn(9), token=None)[0] == 401
    assert post(replayed, http_turn(9), token="wrong")[0] == 401


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/octet-stream"]
)
def test_http_ingest_takes_only_json_bodies(replayed, content_type):
    status, body = post(replayed, http_turn(12), content_type=content_type)
    assert status == 415 and "application/json" in body["error"], body
    assert post(replayed, http_turn(12), content_type="application/json; charset=utf-8")[0] == 202


def test_http_ingest_limits_the_body_size(replayed):
    big = [http_turn(10, text="z" * 15000) for _ in range(6)]
    assert post(replayed, big)[0] == 413
    assert post(replayed, None, raw=b"{not json")[0] == 400
    assert post(replayed, None, raw=b"[" * 30000)[0] == 400  # nesting too deep for the parser: still a 4xx


def test_http_ingest_reads_a_body_that_arrives_in_pieces(replayed):
    """A valid batch just under the limit, sent in two pieces with a pause between them (as a
    slow client or a busy network would): all of it is read, not just what had arrived."""
    batch = [
        {**http_turn(20 + i, text="w " * 7600), "conversation_id": "http-big", "event_id": f"big:{i}"} for i in range(4)
    ]
    data = json.dumps(batch).encode()
    assert 60_000 < len(data) < 65536
    parsed = urllib.parse.urlsplit(replayed.url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
    connection.putrequest("POST", "/v1/turns")
    for name, value in (
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("Authorization", "Bearer test-token"),
    ):
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(data[: len(data) // 2])
    time.sleep(0.5)
    connection.send(data[len(data) // 2 :])
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (202, {"accepted": 4})
    connection.close()


def test_health_and_readiness(replayed):
    with urllib.request.urlopen(replayed.url + "/healthz") as response:
        assert json.loads(response.read()) == {"status": "ok"}
    with urllib.request.urlopen(replayed.url + "/readyz") as response:
        assert json.loads(response.read())["ready"] is True
