"""The reviewer console over HTTP against a real AlertStore (SQLite in tmp_path): the feed and its
filters, server-sent events, the alert page (evidence in place, escaping, distress chart), actions
(store, audit log, verdicts topic, metrics), headers; and the live feed's fan-out."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from streams.console.live import LiveFeed
from streams.console.pages import distress_svg, highlight
from streams.console.store import AlertStore
from streams.console.views import AlertFilter, AlertSummary
from streams.console.web import create_console_app
from streams.contracts import Alert, SilenceEvent, TurnEvent, VerdictEvent
from streams.settings import Settings
from tests.factories import ALERT_FIELDS

REVIEWER_TOKEN = "reviewer-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789ab"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')
ROW_ID = re.compile(r'<tr class="alert-row[^"]*" data-alert-id="([^"]+)"')
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_alert(**changes) -> Alert:
    return Alert.model_validate(ALERT_FIELDS | changes)


def turn(index: int, role: str, text: str, **meta) -> TurnEvent:
    return TurnEvent(
        event_id=f"e-{index}",
        conversation_id="conv-9",
        turn_index=index,
        role=role,
        text=text,
        ts=T0 + timedelta(minutes=index),
        meta=meta,
    )


CONVERSATION = [
    turn(5, "system", "Session resumed after a network drop."),
    turn(6, "patient", "Work has been a lot lately."),
    turn(7, "therapist", 'Tell me more. <script>alert("x")</script>', injected_note="Safety check-in due."),
    turn(8, "patient", "Honestly I have this short quote in my head all the time."),
]


@pytest.fixture
def store(tmp_path: Path):
    store = AlertStore.open(f"sqlite:///{tmp_path / 'console.db'}")
    alert = make_alert(
        evidence=[
            {"turn_index": 8, "role": "patient", "quote": "short quote", "why": "active ideation"},
            {"turn_index": 6, "role": "patient", "quote": "not in the stored text", "why": "workload strain"},
        ],
        distress=[{"turn_index": 6, "score": 0.35}, {"turn_index": 8, "score": 0.92}],
    )
    assert store.save_alert(alert)
    store.save_turns(CONVERSATION)
    yield store
    close = getattr(store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump(
            {
                REVIEWER_TOKEN: {"user": "rita", "role": "reviewer"},
                VIEWER_TOKEN: {"user": "victor", "role": "viewer"},
            }
        )
    )
    return Settings(console_tokens_file=tokens, console_session_secret="test-secret-0123456789abcdef")


class Harness:
    def __init__(self, store, settings: Settings, fail_publish: bool = False, keepalive: float = 15.0) -> None:
        self.store = store
        self.feed = LiveFeed()
        self.events: list[VerdictEvent] = []
        self.silences: list[SilenceEvent] = []
        self.fail_publish = fail_publish

        async def publish(event: VerdictEvent) -> None:
            if self.fail_publish:
                raise ConnectionError("broker down")
            self.events.append(VerdictEvent.model_validate_json(event.to_json()))

        async def publish_silence(event: SilenceEvent) -> None:
            if self.fail_publish:
                raise ConnectionError("broker down")
            self.silences.append(SilenceEvent.model_validate_json(event.to_json()))

        self.app = create_console_app(
            store, settings, self.feed, publish, publish_silence=publish_silence, keepalive_seconds=keepalive
        )
        self.client = TestClient(TestServer(self.app))

    async def __aenter__(self) -> Harness:
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.client.close()

    async def sign_in(self, token: str = REVIEWER_TOKEN) -> None:
        form = await self.client.get("/login")
        csrf = CSRF_FIELD.search(await form.text()).group(1)
        response = await self.client.post("/login", data={"token": token, "csrf": csrf}, allow_redirects=False)
        assert response.status == 303

    async def csrf(self, alert_id: str = "abc123") -> str:
        page = await self.client.get(f"/alerts/{alert_id}")
        return CSRF_FIELD.search(await page.text()).group(1)

    async def act(self, alert_id: str = "abc123", **fields):
        data = {"csrf": await self.csrf()} | fields
        return await self.client.post(f"/alerts/{alert_id}/actions", data=data, allow_redirects=False)


def verdict_count(rule: str, verdict: str) -> float:
    return REGISTRY.get_sample_value("turnwatch_verdicts_total", {"rule": rule, "verdict": verdict}) or 0.0


def action_count(action: str) -> float:
    return REGISTRY.get_sample_value("turnwatch_console_actions_total", {"action": action}) or 0.0


# --- the feed -------------------------------------------------------------------------------------


async def test_feed_lists_alerts_critical_first_then_newest_and_filters(store, settings):
    extra = [
        make_alert(
            alert_id="warn-new",
            severity="warning",
            detector="loop",
            rule="loop.repetition",
            created_at=T0 + timedelta(hours=3),
        ),
        make_alert(
            alert_id="high-mid", severity="high", rule="crisis.passive_ideation", created_at=T0 + timedelta(hours=2)
        ),
        make_alert(alert_id="crit-old", created_at=T0 - timedelta(hours=1)),
        make_alert(
            alert_id="info-newest",
            severity="info",
            detector="loop",
            rule="loop.repetition",
            created_at=T0 + timedelta(hours=4),
        ),
    ]
    for alert in extra:
        store.save_alert(alert)
    async with Harness(store, settings) as h:
        await h.sign_in()

        async def rows(query: str = "") -> list[str]:
            response = await h.client.get("/alerts" + query)
            assert response.status == 200
            return ROW_ID.findall(await response.text())

        everything = await rows()
        assert everything[:2] == ["abc123", "crit-old"]  # critical on top, newest first among them
        assert everything[2:] == ["info-newest", "warn-new", "high-mid"]
        assert everything == [s.alert_id for s in store.alerts(AlertFilter())]
        assert await rows("?severity=high&severity=warning") == ["warn-new", "high-mid"]
        assert await rows("?detector=loop") == ["info-newest", "warn-new"]
        assert await rows("?rule=crisis.passive_ideation") == ["high-mid"]
        store.record_action("crit-old", "acknowledge", "rita", "reviewer")
        assert await rows("?status=acknowledged") == ["crit-old"]
        assert "crit-old" not in await rows("?status=open")
        assert await rows("?rule=crisis.*") == [r for r in everything if r != "warn-new" and r != "info-newest"]
        assert await rows("?rule=*.repetition") == ["info-newest", "warn-new"]  # globs, as routes take them
        page = await (await h.client.get("/alerts?severity=high&severity=warning")).text()
        assert 'value="high" checked' in page and 'value="critical" checked' not in page
        assert 'data-severities="high,warning"' in page  # what feed.js filters live rows by
        assert 'href="/alerts/high-mid"' in page and 'src="/static/feed.js"' in page
        assert (await h.client.get("/alerts?severity=urgent")).status == 400
        assert (await h.client.get("/alerts?status=closed")).status == 400


async def test_pages_carry_strict_headers_and_no_inline_script(store, settings):
    async with Harness(store, settings) as h:
        await h.sign_in()
        for path in ("/", "/alerts", "/alerts/abc123", "/silences"):
            response = await h.client.get(path)
            headers = response.headers
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
            assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
            scripts = re.findall(r"<script[^>]*>", await response.text())
            assert all('src="/static/' in tag for tag in scripts)
        login = await h.client.get("/login")
        assert login.headers["X-Frame-Options"] == "DENY"
        css = await h.client.get("/static/console.css")
        js = await h.client.get("/static/feed.js")
        assert css.status == 200 and js.status == 200 and "EventSource" in await js.text()
        assert (await h.client.get("/static/../web.py")).status in (403, 404)
        health = await h.client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"


async def test_metrics_added_by_the_service_are_scraped_without_a_session(store, settings):
    from streams.console.service import metrics_view

    async def publish(event) -> None:
        pass

    app = create_console_app(store, settings, LiveFeed(), publish)
    app.router.add_get("/metrics", metrics_view)  # as ConsoleService.app() does
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics", allow_redirects=False)
        assert response.status == 200 and "turnwatch_verdicts_total" in await response.text()
        assert (await client.get("/", allow_redirects=False)).status == 303  # everything else needs one


# --- server-sent events ---------------------------------------------------------------------------


async def read_event(response, name: str = "alert", timeout: float = 5.0) -> dict:
    """The data of the next event called ``name`` on an SSE stream."""

    async def read() -> dict:
        event, data = None, []
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                data.append(line.partition(":")[2].strip())
            elif line == "":
                if event == name and data:
                    return json.loads("\n".join(data))
                event, data = None, []

    return await asyncio.wait_for(read(), timeout)


async def test_events_stream_published_alerts_without_turn_text(store, settings):
    async with Harness(store, settings, keepalive=0.2) as h:
        await h.sign_in(VIEWER_TOKEN)  # viewers see the live feed too
        response = await h.client.get("/events")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert (await asyncio.wait_for(response.content.readline(), 5)).startswith(b"retry:")
        for _ in range(100):  # subscribed once the stream has started
            if h.feed.subscribers:
                break
            await asyncio.sleep(0.01)
        summary = store.alerts(AlertFilter())[0]
        h.feed.publish(summary)
        data = await read_event(response)
        assert data == summary.to_dict() and data["alert_id"] == "abc123" and data["severity"] == "critical"
        assert "short quote" not in json.dumps(data)

        # from the collector's thread, as in production
        other = AlertSummary(
            alert_id="from-thread",
            conversation_id="conv-2",
            detector="loop",
            rule="loop.repetition",
            severity="warning",
            summary="A loop",
            created_at=T0,
            status="open",
            verdict=None,
        )
        threading.Thread(target=h.feed.publish, args=(other,)).start()
        assert (await read_event(response))["alert_id"] == "from-thread"

        keepalive = await asyncio.wait_for(response.content.readline(), 5)
        assert keepalive.startswith(b":")  # a comment keeps proxies from closing an idle stream
        response.close()
        for _ in range(200):
            if not h.feed.subscribers:
                break
            await asyncio.sleep(0.02)
        assert h.feed.subscribers == 0


async def test_events_need_a_session(store, settings):
    async with Harness(store, settings) as h:
        assert (await h.client.get("/events")).status == 401


async def test_an_action_updates_live_feeds(store, settings):
    async with Harness(store, settings) as h:
        await h.sign_in()
        subscription = h.feed.subscribe()
        assert (await h.act(action="acknowledge")).status == 303
        update = await subscription.get(timeout=5)
        assert update is not None and update.alert_id == "abc123" and update.status == "acknowledged"
        subscription.close()


# --- the alert page -------------------------------------------------------------------------------


async def test_alert_page_shows_the_timeline_with_evidence_in_place_and_escapes_turn_text(store, settings):
    async with Harness(store, settings) as h:
        await h.sign_in()
        response = await h.client.get("/alerts/abc123")
        assert response.status == 200
        html = await response.text()
    assert '<mark class="evidence" title="active ideation">short quote</mark>' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # the quote not found in its turn is shown under the turn, still marked
    assert '<mark class="evidence" title="workload strain">not in the stored text</mark>' in html
    assert 'class="turn role-patient flagged"' in html and 'class="turn role-therapist"' in html
    assert 'class="turn role-system"' in html and "System note" in html
    assert "Safety check-in due." in html and 'class="system-note"' in html
    for fact in ("crisis.active_ideation", "kl-000205", "Review now.", "0.70", "active ideation"):
        assert fact in html
    assert '<svg class="distress-chart"' in html and '<polyline class="distress-line"' in html
    assert '<g class="alert-turn"><title>alert turn 8</title>' in html
    assert html.index('id="turn-5"') < html.index('id="turn-6"') < html.index('id="turn-7"') < html.index('id="turn-8"')
    for action in ("acknowledge", "resolve", "verdict"):
        assert f'name="action" value="{action}"' in html
    assert 'name="verdict" value="false_positive"' in html and "<textarea" in html
    assert html.count('name="csrf"') >= 4  # sign out + three action forms


async def test_xss_in_every_alert_field_is_escaped(store, settings):
    attack = "<img src=x onerror=alert(1)>"
    store.save_alert(
        make_alert(
            alert_id="xss",
            summary=f"summary {attack}",
            suggested_action=attack,
            evidence=[{"turn_index": 8, "role": "patient", "quote": "short quote", "why": f'" {attack}'}],
        )
    )
    async with Harness(store, settings) as h:
        await h.sign_in()
        alert_page = await (await h.client.get("/alerts/xss")).text()
        feed = await (await h.client.get("/alerts")).text()
        queue = await (await h.client.get("/?rule=crisis.*")).text()
    for html in (alert_page, feed):
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img" not in queue
    assert 'title="&#34; &lt;img' in alert_page  # the why, as an attribute, cannot end the attribute


async def test_unknown_alert_is_404(store, settings):
    async with Harness(store, settings) as h:
        await h.sign_in()
        assert (await h.client.get("/alerts/nope")).status == 404
        response = await h.act("nope", action="acknowledge")
        assert response.status == 404 and h.events == []
        assert (await h.client.get("/no/such/page")).status == 404


# --- actions --------------------------------------------------------------------------------------


async def test_acknowledge_resolve_and_verdict_are_recorded_published_and_counted(store, settings, caplog):
    rule = "crisis.active_ideation"
    before_verdicts = verdict_count(rule, "false_positive")
    before_other = verdict_count(rule, "true_positive")
    before_ack, before_resolve = action_count("acknowledge"), action_count("resolve")
    note = "Quoting a film line, not about herself."
    caplog.set_level(logging.DEBUG)
    async with Harness(store, settings) as h:
        await h.sign_in()
        acknowledged = await h.act(action="acknowledge")
        assert acknowledged.status == 303 and acknowledged.headers["Location"].startswith("/alerts/abc123")
        assert store.alert("abc123").status == "acknowledged"
        judged = await h.act(action="verdict", verdict="false_positive", note=note)
        assert judged.status == 303
        resolved = await h.act(action="resolve")
        assert resolved.status == 303
        page = await (await h.client.get(resolved.headers["Location"])).text()

    view = store.alert("abc123")
    assert view.status == "resolved" and view.verdict == "false_positive" and view.verdict_note == note
    assert [(a.action, a.actor, a.role) for a in view.actions] == [
        ("acknowledge", "rita", "reviewer"),
        ("verdict", "rita", "reviewer"),
        ("resolve", "rita", "reviewer"),
    ]
    assert [e.action for e in h.events] == ["acknowledge", "verdict", "resolve"]
    for event, record in zip(h.events, view.actions):
        assert event.action_id == record.action_id and event.at == record.at.replace(tzinfo=record.at.tzinfo or UTC)
        assert (event.alert_id, event.conversation_id, event.detector, event.rule, event.severity) == (
            "abc123",
            "conv-9",
            "crisis",
            rule,
            "critical",
        )
        assert event.actor == "rita" and event.role == "reviewer"
    assert h.events[1].verdict == "false_positive" and h.events[1].note == note
    assert h.events[0].verdict is None
    assert verdict_count(rule, "false_positive") == before_verdicts + 1
    assert verdict_count(rule, "true_positive") == before_other
    assert action_count("acknowledge") == before_ack + 1 and action_count("resolve") == before_resolve + 1
    # the audit log on the page: who, what, when
    assert "Audit log" in page and page.count("rita <span") == 3 and "False positive" in page and note in page
    # logs above DEBUG name the alert, action and actor, never the note or turn text
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert any(getattr(r, "action", None) == "verdict" and getattr(r, "actor", None) == "rita" for r in loud)
    for record in loud:
        message = record.getMessage()
        assert note not in message and "short quote" not in message and "Tell me more" not in message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "delete"}, "Unknown action"),
        ({"action": "verdict"}, "Choose a verdict"),
        ({"action": "verdict", "verdict": "maybe"}, "Choose a verdict"),
        ({"action": "acknowledge", "verdict": "unsure"}, "verdict action only"),
        ({"action": "verdict", "verdict": "unsure", "note": "x" * 2001}, "limit is 2000"),
    ],
)
async def test_bad_action_input_is_400_and_records_nothing(store, settings, fields, message):
    async with Harness(store, settings) as h:
        await h.sign_in()
        response = await h.act(**fields)
        assert response.status == 400 and message in await response.text()
    assert store.alert("abc123").actions == [] and h.events == []


async def test_an_unpublished_action_is_reported_not_hidden(store, settings):
    async with Harness(store, settings, fail_publish=True) as h:
        await h.sign_in()
        response = await h.act(action="verdict", verdict="true_positive")
        assert response.status == 502 and "Do not repeat it" in await response.text()
    assert [a.action for a in store.alert("abc123").actions] == ["verdict"]  # kept in the audit log


# --- pieces ---------------------------------------------------------------------------------------


def test_highlight_marks_quotes_in_place_and_returns_the_rest():
    from streams.contracts import EvidenceItem

    items = [
        EvidenceItem(turn_index=1, role="patient", quote="Want To Die", why="ideation"),
        EvidenceItem(turn_index=1, role="patient", quote="absent words", why="other"),
        EvidenceItem(turn_index=1, role="patient", quote="to die <b>", why="overlap"),
    ]
    html, unplaced = highlight("I want to die <b> now", items)
    assert str(html) == 'I <mark class="evidence" title="ideation · overlap">want to die &lt;b&gt;</mark> now'
    assert [i.why for i in unplaced] == ["other"]


def test_distress_svg_is_numbers_only_and_marks_alert_turns():
    from streams.contracts import DistressPoint

    svg = str(distress_svg([DistressPoint(turn_index=3, score=0.5)], [3, 4]))
    assert svg.startswith("<svg") and "alert turn 3" in svg and "alert turn 4" in svg and "turn 3: 0.50" in svg
    assert str(distress_svg([], [1])) == ""


async def test_live_feed_fans_out_and_drops_the_oldest_for_a_slow_subscriber():
    feed = LiveFeed(queue_size=3)
    feed.publish(store_summary("before-start"))  # nobody can listen yet: dropped, no error
    feed.start(asyncio.get_running_loop())
    fast, slow = feed.subscribe(), feed.subscribe()
    for n in range(5):
        feed.publish(store_summary(f"a{n}"))
    await asyncio.sleep(0)
    assert [(await fast.get(0.1)).alert_id for _ in range(3)] == ["a2", "a3", "a4"]
    assert slow.dropped == 2 and slow.pending() == 3
    fast.close()
    feed.publish(store_summary("after"))
    await asyncio.sleep(0)
    assert fast.pending() == 0 and feed.subscribers == 1
    assert await fast.get(0.05) is None
    feed.close_all()
    assert slow.dropped == 3  # a full queue lost its oldest again
    assert [s.alert_id async for s in slow] == ["a3", "a4", "after"]


def store_summary(alert_id: str) -> AlertSummary:
    return AlertSummary(alert_id, "c", "crisis", "crisis.active_ideation", "high", "s", T0, "open", None)
