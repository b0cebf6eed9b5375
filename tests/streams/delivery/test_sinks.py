from streams.contracts import Alert
from streams.delivery.sinks.alertmanager import alertmanager_alerts
from streams.delivery.sinks.pagerduty import pagerduty_event
from streams.delivery.sinks.slack import slack_payload
from tests.factories import ALERT_FIELDS

ALERT = Alert.model_validate(ALERT_FIELDS)


def test_pagerduty_event_uses_alert_id_as_dedup_key_and_maps_severity():
    event = pagerduty_event(ALERT, "rk", "https://console/c/{conversation_id}")
    assert event["dedup_key"] == "abc123" and event["event_action"] == "trigger" and event["routing_key"] == "rk"
    assert event["payload"]["severity"] == "critical"
    assert pagerduty_event(ALERT.model_copy(update={"severity": "high"}), "rk", None)["payload"]["severity"] == "error"
    assert event["payload"]["custom_details"]["evidence"][0]["quote"] == "short quote"
    assert event["links"][0]["href"] == "https://console/c/conv-9"
    assert "links" not in pagerduty_event(ALERT, "rk", None)


def test_slack_blocks_carry_summary_severity_quotes_and_link():
    payload = slack_payload(ALERT, "https://console/c/{conversation_id}")
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds[0] == "header" and "actions" in kinds
    text = str(payload)
    assert "CRITICAL" in text and "short quote" in text and "https://console/c/conv-9" in text
    assert "actions" not in [b["type"] for b in slack_payload(ALERT, None)["blocks"]]


def test_alertmanager_alert_labels():
    [item] = alertmanager_alerts(ALERT, None)
    assert item["labels"]["alertname"] == "crisis_active_ideation" and item["labels"]["severity"] == "critical"
    assert item["startsAt"] == ALERT.created_at.isoformat()


async def test_the_bundled_receiver_verifies_and_dedups():
    import json as _json

    from aiohttp.test_utils import TestClient, TestServer

    from streams.delivery.receiver import make_app
    from streams.delivery.signing import signed_headers

    body = _json.dumps(ALERT_FIELDS).encode()
    async with TestClient(TestServer(make_app(b"k"))) as client:
        headers = {**signed_headers(b"k", body), "Idempotency-Key": "abc123", "X-Turnwatch-Severity": "critical"}
        first = await client.post("/hook", data=body, headers=headers)
        again = await client.post("/hook", data=body, headers=headers)
        bad = await client.post("/hook", data=body + b" ", headers=headers)
        assert first.status == 200 and (await again.json())["duplicate"] and bad.status == 401


async def test_every_sink_posts_to_a_real_server():
    """Each notifier against a real local HTTP server: payload shape and outcome classification."""
    import json as _json

    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from pydantic import SecretStr

    from streams.delivery.models import SecretRef
    from streams.delivery.signing import verify_signature
    from streams.delivery.sinks import (
        AlertmanagerReceiver,
        PagerDutyReceiver,
        SlackReceiver,
        WebhookReceiver,
        build_notifier,
    )

    received = []
    status = {"code": 202}

    async def handler(request):
        received.append((request.path, dict(request.headers), await request.read()))
        return web.json_response({}, status=status["code"])

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    async with TestServer(app) as server:
        base = str(server.make_url(""))
        ref = SecretRef(env="UNUSED")
        notifiers = [
            build_notifier(
                WebhookReceiver(name="w", kind="webhook", url=base + "/hook", secret=ref), SecretStr("k"), None
            ),
            build_notifier(SlackReceiver(name="s", kind="slack", webhook_url=ref), SecretStr(base + "/slack"), None),
            build_notifier(
                PagerDutyReceiver(name="p", kind="pagerduty", routing_key=ref, url=base + "/pd"), SecretStr("rk"), None
            ),
            build_notifier(AlertmanagerReceiver(name="a", kind="alertmanager", url=base), None, None),
        ]
        async with aiohttp.ClientSession() as session:
            outcomes = [await n.notify(session, ALERT) for n in notifiers]
            assert all(o.delivered for o in outcomes)
            status["code"] = 503
            assert (await notifiers[0].notify(session, ALERT)).retry
            status["code"] = 400
            failed = await notifiers[0].notify(session, ALERT)
            assert not failed.delivered and not failed.retry
    paths = [p for p, _, _ in received[:4]]
    assert paths == ["/hook", "/slack", "/pd", "/api/v2/alerts"]
    _path, headers, body = received[0]
    verify_signature(b"k", headers, body)
    assert headers["Idempotency-Key"] == "abc123" and _json.loads(body)["alert_id"] == "abc123"
    assert _json.loads(received[2][2])["dedup_key"] == "abc123"
