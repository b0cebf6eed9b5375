"""Receivers that follow an alert's life: PagerDuty incidents and Slack messages, each against a
real local HTTP server, and the delivery jobs that carry their updates."""

import importlib.util
import json
import os

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr, ValidationError

from streams.contracts import Alert
from streams.delivery.models import SecretRef
from streams.delivery.sinks import Notice, PagerDutyReceiver, SlackReceiver, WebhookReceiver, build_notifier
from streams.delivery.sinks.slack import message_state
from streams.delivery.stages import DeliveryJob
from tests.factories import ALERT_FIELDS


def needs_slack_sdk():
    """Slack's bot mode imports slack-sdk when it sends; CI must have it (a pyproject dependency)."""
    if importlib.util.find_spec("slack_sdk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("slack-sdk is not installed (a dependency in pyproject.toml)")
        pytest.skip("slack-sdk not installed")


ALERT = Alert.model_validate(ALERT_FIELDS)
REF = SecretRef(env="UNUSED")


class Recorder:
    """A local HTTP server standing in for PagerDuty and the Slack Web API; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []
        self.slack_reply: dict = {"ok": True}
        self.status = 200
        self.app = web.Application()
        self.app.router.add_post("/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append((request.path, dict(request.headers), body))
        if request.path.startswith("/api/"):
            reply = {"channel": body.get("channel"), "ts": body.get("ts", "1700000000.000100"), **self.slack_reply}
            return web.json_response(reply, status=self.status)
        return web.json_response({"status": "success"}, status=202 if self.status == 200 else self.status)


@pytest.fixture
async def server():
    recorder = Recorder()
    async with TestServer(recorder.app) as running:
        recorder.base = str(running.make_url(""))
        yield recorder


async def test_pagerduty_acknowledge_and_resolve_carry_the_triggers_routing_and_dedup_keys(server):
    receiver = PagerDutyReceiver(name="p", kind="pagerduty", routing_key=REF, url=server.base + "/pd")
    notifier = build_notifier(receiver, SecretStr("rk"), None)
    assert notifier.takes_updates
    async with aiohttp.ClientSession() as session:
        for notice in (Notice(ALERT), Notice(ALERT, "acknowledge", "alice"), Notice(ALERT, "resolve", "alice")):
            assert (await notifier.send(session, notice)).delivered
        escalated = await notifier.send(
            session, Notice(ALERT, note="Escalated (step 1): not acknowledged within 5 min")
        )
        assert escalated.delivered
    bodies = [body for _, _, body in server.calls]
    assert [b["event_action"] for b in bodies] == ["trigger", "acknowledge", "resolve", "trigger"]
    assert {b["dedup_key"] for b in bodies} == {"abc123"} and {b["routing_key"] for b in bodies} == {"rk"}
    assert "payload" not in bodies[1], "an acknowledgement needs only the keys"
    assert bodies[3]["payload"]["custom_details"]["escalation"].startswith("Escalated (step 1)")


async def test_slack_with_a_bot_token_posts_then_updates_the_same_message(server):
    needs_slack_sdk()
    receiver = SlackReceiver(name="s", kind="slack", bot_token=REF, channel="C123", api_url=server.base + "/api/")
    notifier = build_notifier(receiver, SecretStr("xoxb-test"), "https://console/alerts/{alert_id}")
    assert notifier.takes_updates
    async with aiohttp.ClientSession() as session:
        high = ALERT.model_copy(update={"severity": "high"})
        posted = await notifier.send(session, Notice(high))
        assert posted.delivered and posted.ref == {"channel": "C123", "ts": "1700000000.000100", "severity": "high"}
        upgraded = await notifier.send(session, Notice(ALERT, ref=posted.ref))
        acked = await notifier.send(session, Notice(ALERT, "acknowledge", "alice", ref=upgraded.ref))
        resolved = await notifier.send(session, Notice(ALERT, "resolve", "bob", ref=acked.ref))
        assert upgraded.delivered and acked.delivered and resolved.delivered
    paths = [path for path, _, _ in server.calls]
    assert paths == ["/api/chat.postMessage", "/api/chat.update", "/api/chat.update", "/api/chat.update"]
    assert server.calls[0][1]["Authorization"] == "Bearer xoxb-test"
    updates = [body for _, _, body in server.calls[1:]]
    assert all(b["channel"] == "C123" and b["ts"] == "1700000000.000100" for b in updates)
    assert "Escalated from high to critical" in updates[0]["text"]
    assert "Acknowledged by alice" in updates[1]["text"] and "Resolved by bob" in updates[2]["text"]
    assert updates[1]["blocks"][1]["elements"][0]["text"] == ":eyes: Acknowledged by alice"


@pytest.mark.parametrize(
    "status, reply, retry",
    [
        (200, {"ok": False, "error": "ratelimited"}, True),
        (429, {"ok": False, "error": "ratelimited"}, True),
        (500, {"ok": False, "error": "internal_error"}, True),
        (200, {"ok": False, "error": "channel_not_found"}, False),
        (200, {"ok": False, "error": "invalid_auth"}, False),
    ],
)
async def test_slack_web_api_failures_say_whether_to_retry(server, status, reply, retry):
    needs_slack_sdk()
    receiver = SlackReceiver(name="s", kind="slack", bot_token=REF, channel="C1", api_url=server.base + "/api")
    notifier = build_notifier(receiver, SecretStr("xoxb"), None)
    server.status, server.slack_reply = status, reply
    async with aiohttp.ClientSession() as session:
        outcome = await notifier.send(session, Notice(ALERT))
    assert not outcome.delivered and outcome.retry is retry and outcome.ref is None


async def test_an_unreachable_slack_is_retried():
    needs_slack_sdk()
    receiver = SlackReceiver(name="s", kind="slack", bot_token=REF, channel="C1", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as session:
        outcome = await build_notifier(receiver, SecretStr("xoxb"), None).send(session, Notice(ALERT))
    assert not outcome.delivered and outcome.retry


async def test_receivers_that_only_page_take_no_updates(server):
    hook = SlackReceiver(name="s", kind="slack", webhook_url=REF)
    signed = WebhookReceiver(name="w", kind="webhook", url=server.base + "/hook", secret=REF)
    async with aiohttp.ClientSession() as session:
        for receiver in (hook, signed):
            notifier = build_notifier(receiver, SecretStr(server.base + "/hook"), None)
            assert not notifier.takes_updates
            outcome = await notifier.send(session, Notice(ALERT, "acknowledge", "alice"))
            assert not outcome.delivered and not outcome.retry
    assert server.calls == [], "fire-and-forget: nothing is sent"


def test_the_message_state_line():
    assert message_state(Notice(ALERT)) is None
    assert message_state(Notice(ALERT, ref={"severity": "critical"})) is None, "same severity again"
    assert (
        message_state(Notice(ALERT, "resolve", "<b>eve</b>")) == ":white_check_mark: Resolved by &lt;b&gt;eve&lt;/b&gt;"
    )
    assert message_state(Notice(ALERT, note="Escalated (step 1)")) == "Escalated (step 1)"


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({}, "exactly one of webhook_url"),
        ({"webhook_url": {"env": "A"}, "bot_token": {"env": "B"}, "channel": "C1"}, "exactly one of webhook_url"),
        ({"bot_token": {"env": "B"}}, "channel: required with bot_token"),
        ({"webhook_url": {"env": "A"}, "channel": "C1"}, "channel: only with bot_token"),
    ],
)
def test_a_slack_receiver_is_one_mode_or_the_other(fields, needle):
    with pytest.raises(ValidationError) as raised:
        SlackReceiver.model_validate({"name": "s", "kind": "slack", **fields})
    assert needle in str(raised.value)


def test_the_secret_resolved_at_start_up_is_the_modes_own():
    bot = SlackReceiver(name="s", kind="slack", bot_token=REF, channel="C1")
    assert bot.secret_field == "bot_token"
    assert SlackReceiver(name="s", kind="slack", webhook_url=REF).secret_field == "webhook_url"


def test_update_jobs_round_trip_and_are_delivered_once_per_console_action():
    ack = DeliveryJob(ALERT, "pager", action="acknowledge", actor="alice", action_id="act-1")
    assert DeliveryJob.from_dict(json.loads(json.dumps(ack.to_dict()))) == ack
    assert ack.key == "abc123|acknowledge|act-1|pager"
    assert DeliveryJob(ALERT, "pager").key == "abc123|critical|pager", "a page keeps its key"
    old = {k: v for k, v in DeliveryJob(ALERT, "pager").to_dict().items() if k not in ("action", "actor", "note")}
    assert DeliveryJob.from_dict(old).action == "trigger", "a job from before updates reads as a page"
    with pytest.raises(ValueError):
        DeliveryJob.from_dict({**ack.to_dict(), "action": "snooze"})
    retried = ack.retry(99.0, "HTTP 503")
    assert (retried.attempt, retried.action, retried.action_id) == (2, "acknowledge", "act-1")


def test_a_bot_token_without_slack_sdk_fails_at_start_up_not_at_the_first_page(monkeypatch):
    from streams.delivery.sinks import slack
    from streams.errors import ConfigError

    monkeypatch.setattr(slack.importlib.util, "find_spec", lambda name: None)
    bot = SlackReceiver(name="s", kind="slack", bot_token=REF, channel="C1")
    with pytest.raises(ConfigError, match="receiver s: bot_token needs the slack-sdk package"):
        build_notifier(bot, SecretStr("xoxb"), None)
    build_notifier(SlackReceiver(name="w", kind="slack", webhook_url=REF), SecretStr("http://x"), None)
