"""Each delivery stage alone: built with what it needs, plain dicts for its tables."""

import json

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from streams.contracts import Alert
from streams.delivery.alert_stages import (
    AlertInFlight,
    Cooldown,
    Inhibit,
    MarkSource,
    Route,
    StartEscalation,
    TrackLifecycle,
)
from streams.delivery.config import load_delivery_config, registry_rules
from streams.delivery.escalation import EscalationPolicy
from streams.delivery.inhibit import InhibitRule
from streams.delivery.job_stages import JobChain, Notify, NotYetDelivered, ReceiverConfigured, Retry, StillCurrent
from streams.delivery.models import SecretRef
from streams.delivery.sinks import WebhookReceiver, build_notifier
from streams.delivery.stages import DeliveryJob
from tests.factories import ALERT_FIELDS

CRITICAL = Alert.model_validate(ALERT_FIELDS)  # crisis, critical, conv-9
LOWER = CRITICAL.model_copy(
    update={"alert_id": "t1", "rule": "therapist.dismisses", "detector": "therapist", "severity": "high"}
)
KINDS = {"pager": "pagerduty", "hook": "webhook"}


def item(alert: Alert, receivers=("hook",)) -> AlertInFlight:
    return AlertInFlight(alert, list(receivers))


async def test_route_sends_an_alert_to_its_routes_receivers_and_stops_one_no_route_takes(tmp_path, monkeypatch):
    monkeypatch.setenv("TW_UNUSED", "k")
    path = tmp_path / "delivery.yaml"
    path.write_text(
        "receivers:\n  - {name: hook, kind: webhook, url: 'http://127.0.0.1:9/x', secret: {env: TW_UNUSED}}\n"
        "routes:\n  - match: {detectors: [crisis]}\n    receivers: [hook]\n"
    )
    route = Route(load_delivery_config(path, registry_rules()))
    routed = item(CRITICAL, receivers=())
    assert await route(routed) and routed.receivers == ["hook"]
    assert not await route(item(LOWER, receivers=()))


async def test_cooldown_lets_the_first_alert_through_then_holds_repeats_until_it_escalates():
    table: dict = {}
    now = [1000.0]
    cooldown = Cooldown(table, seconds=900, kinds=KINDS, clock=lambda: now[0])
    first = CRITICAL.model_copy(update={"severity": "high"})
    assert await cooldown(item(first))
    assert not await cooldown(item(first.model_copy(update={"alert_id": "again"})))
    assert await cooldown(item(CRITICAL.model_copy(update={"alert_id": "worse"}))), "an escalation goes through"
    now[0] += 901
    assert await cooldown(item(first.model_copy(update={"alert_id": "later"})))


async def test_a_marked_critical_source_inhibits_its_conversations_lower_alerts_only():
    rule = InhibitRule.model_validate(
        {"source": {"min_severity": "critical"}, "target": {"max_severity": "high"}, "window_seconds": 3600}
    )
    sources: dict = {}
    clock = lambda: 1000.0  # noqa: E731
    inhibit = Inhibit([rule], sources, KINDS, clock=clock)
    assert await inhibit(item(LOWER)), "no source yet"
    assert await MarkSource([rule], sources, clock=clock)(item(CRITICAL))
    assert not await inhibit(item(LOWER))
    assert await inhibit(item(LOWER.model_copy(update={"conversation_id": "conv-other"})))


async def test_escalation_starts_for_a_covered_open_alert_and_not_once_a_reviewer_has_it():
    policy = EscalationPolicy.model_validate(
        {"match": {"min_severity": "critical"}, "steps": [{"after_seconds": 300, "receivers": ["hook"]}]}
    )
    lifecycle: dict = {}
    escalations: dict = {}
    assert await TrackLifecycle(lifecycle, {"hook": False}, [policy])(item(CRITICAL))
    assert lifecycle[CRITICAL.alert_id]["status"] == "open"
    start = StartEscalation([policy], lifecycle, escalations, clock=lambda: 50.0, partition=lambda: 3)
    assert await start(item(CRITICAL)) and CRITICAL.alert_id in escalations
    assert await start(item(LOWER)) and LOWER.alert_id not in escalations, "no policy covers a high"
    escalations.clear()
    lifecycle[CRITICAL.alert_id] = {**lifecycle[CRITICAL.alert_id], "status": "acknowledged"}
    assert await start(item(CRITICAL)) and not escalations


async def test_jobs_for_removed_receivers_are_dead_lettered_and_delivered_ones_are_not_sent_again():
    notifier = build_notifier(
        WebhookReceiver(name="hook", kind="webhook", url="http://127.0.0.1:9/x", secret=SecretRef(env="U")),
        SecretStr("k"),
        None,
    )
    dead: list = []

    async def dead_letter(job, reason, detail):
        dead.append(reason)

    job = DeliveryJob(CRITICAL, "gone")
    assert not await ReceiverConfigured({"hook": notifier}, dead_letter)(job) and dead == ["receiver_removed"]
    delivered = {DeliveryJob(CRITICAL, "hook").key: 1.0}
    assert not await NotYetDelivered(delivered, {"hook": notifier})(DeliveryJob(CRITICAL, "hook"))
    assert await StillCurrent({}, {"hook": notifier})(DeliveryJob(CRITICAL, "hook")), "a plain webhook is never stale"


async def test_notify_marks_delivered_retries_what_may_succeed_and_dead_letters_the_last_attempt():
    status = {"code": 200}
    bodies: list = []

    async def handler(request):
        bodies.append(json.loads(await request.read()))
        return web.json_response({}, status=status["code"])

    app = web.Application()
    app.router.add_post("/hook", handler)
    async with TestServer(app) as server, aiohttp.ClientSession() as session:
        notifier = build_notifier(
            WebhookReceiver(name="hook", kind="webhook", url=str(server.make_url("/hook")), secret=SecretRef(env="U")),
            SecretStr("k"),
            None,
        )
        delivered: dict = {}
        retried: list = []
        dead: list = []

        async def send_retry(key, value):
            retried.append(json.loads(value))

        async def dead_letter(job, reason, detail):
            dead.append(reason)

        async def flush():
            return None

        notify = Notify(
            {"hook": notifier},
            delivered,
            {},
            {},
            Retry(send_retry, max_attempts=2, initial_seconds=0.1, max_seconds=1.0),
            dead_letter,
            lambda: session,
            flush,
            lambda job: chain.run(job),
        )
        chain = JobChain((NotYetDelivered(delivered, {"hook": notifier}), notify), {"hook": notifier}, dead_letter)
        await chain.run(DeliveryJob(CRITICAL, "hook"))
        assert len(bodies) == 1 and DeliveryJob(CRITICAL, "hook").key in delivered
        await chain.run(DeliveryJob(CRITICAL, "hook"))
        assert len(bodies) == 1, "delivered once"

        status["code"] = 503
        later = CRITICAL.model_copy(update={"alert_id": "a2"})
        await chain.run(DeliveryJob(later, "hook"))
        assert [r["attempt"] for r in retried] == [2] and not dead
        await chain.run(DeliveryJob.from_dict(retried[0]))
        assert dead == ["retries_exhausted"]
