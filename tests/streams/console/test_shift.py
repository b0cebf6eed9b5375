"""Running a shift in the console (real AlertStore on SQLite, the real aiohttp app): the queue grouped
by conversation, acting on a conversation at once, taking an alert, verdicts that name the right
severity or rule, silences, and the review-time histograms."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from streams.console.silence_store import SilenceStore
from streams.console.views import AlertFilter
from tests.streams.console.test_web import CSRF_FIELD, T0, Harness, make_alert, settings, store  # noqa: F401

QUEUE_ROW = re.compile(r'<tr class="queue-row sev-(\w+)" data-conversation="([^"]+)"')


def add_conversations(into) -> None:
    for alert in [
        make_alert(
            alert_id="c1-warn",
            conversation_id="conv-1",
            severity="warning",
            rule="loop.repetition",
            detector="loop",
            created_at=T0 + timedelta(minutes=5),
        ),
        make_alert(
            alert_id="c1-crit", conversation_id="conv-1", severity="critical", created_at=T0 + timedelta(minutes=10)
        ),
        make_alert(
            alert_id="c1-high",
            conversation_id="conv-1",
            severity="high",
            rule="crisis.possible",
            created_at=T0 + timedelta(minutes=12),
        ),
        make_alert(
            alert_id="c2-crit", conversation_id="conv-2", severity="critical", created_at=T0 - timedelta(minutes=30)
        ),
        make_alert(
            alert_id="c3-info",
            conversation_id="conv-3",
            severity="info",
            rule="therapist.ai_feelings",
            detector="therapist",
            created_at=T0 + timedelta(hours=1),
        ),
    ]:
        into.save_alert(alert)


def test_the_queue_groups_alerts_by_conversation_worst_first_then_longest_waiting(store):  # noqa: F811
    add_conversations(store)
    queue = store.conversations(AlertFilter(status="open"))
    assert [c.conversation_id for c in queue][:3] == ["conv-2", "conv-9", "conv-1"]  # critical; the oldest waits first
    first = {c.conversation_id: c for c in queue}["conv-1"]
    assert (first.worst_severity, first.alerts, first.open_alerts) == ("critical", 3, 3)
    assert first.top_alert_id == "c1-crit" and first.oldest_open == T0 + timedelta(minutes=5)
    assert queue[-1].conversation_id == "conv-3"
    store.record_action("c2-crit", "resolve", "rita", "reviewer")
    assert "conv-2" not in [c.conversation_id for c in store.conversations(AlertFilter(status="open"))]
    assert [c.conversation_id for c in store.conversations(AlertFilter(rule="loop.*"))] == ["conv-1"]


async def test_queue_page_and_acknowledging_a_whole_conversation(store, settings):  # noqa: F811
    add_conversations(store)
    async with Harness(store, settings) as h:
        await h.sign_in()
        page = await (await h.client.get("/")).text()
        rows = QUEUE_ROW.findall(page)
        assert [r[1] for r in rows][:3] == ["conv-2", "conv-9", "conv-1"] and rows[0][0] == "critical"
        assert "Waiting" in page and 'src="/static/queue.js"' in page
        fragment = await (await h.client.get("/queue/rows?rule=therapist.*")).text()
        assert [r[1] for r in QUEUE_ROW.findall(fragment)] == ["conv-3"]
        alert_page = await (await h.client.get("/alerts/c1-crit")).text()
        assert "c1-warn" in alert_page and "c1-high" in alert_page  # the conversation's other alerts
        assert 'id="action-bar"' in alert_page and 'data-key="a"' in alert_page
        csrf = CSRF_FIELD.search(alert_page).group(1)
        response = await h.client.post(
            "/conversations/conv-1/acknowledge", data={"csrf": csrf, "back": "/alerts/c1-crit"}, allow_redirects=False
        )
        assert response.status == 303 and response.headers["Location"] == "/alerts/c1-crit?done=acknowledge_all"
    assert {a.alert_id: a.status for a in store.conversations(AlertFilter())[0:0]} == {}
    statuses = {a.alert_id: a.status for a in store.alerts(AlertFilter()) if a.conversation_id == "conv-1"}
    assert set(statuses.values()) == {"acknowledged"}
    assert sorted(e.alert_id for e in h.events) == ["c1-crit", "c1-high", "c1-warn"]
    assert {e.action for e in h.events} == {"acknowledge"}


async def test_taking_an_alert_and_verdicts_that_name_the_right_severity_or_rule(store, settings):  # noqa: F811
    async with Harness(store, settings) as h:
        await h.sign_in()
        assert (await h.act(action="assign")).status == 303
        view = store.alert("abc123")
        assert view.assignee == "rita" and view.actions[-1].detail == "rita"
        assert h.events[-1].action == "assign" and h.events[-1].assignee == "rita"
        response = await h.act(action="verdict", verdict="wrong_severity", corrected="high", note="not imminent")
        assert response.status == 303
        view = store.alert("abc123")
        assert (view.verdict, view.verdict_detail) == ("wrong_severity", "high")
        assert (h.events[-1].verdict, h.events[-1].corrected) == ("wrong_severity", "high")
        assert (await h.act(action="verdict", verdict="wrong_rule", corrected="crisis.possible")).status == 303
        assert store.alert("abc123").verdict_detail == "crisis.possible"
        assert (await h.act(action="verdict", verdict="wrong_severity", corrected="urgent")).status == 400
        assert (await h.act(action="verdict", verdict="wrong_rule", corrected="")).status == 400
    with pytest.raises(ValueError, match="names the right rule"):
        store.record_action("abc123", "verdict", "rita", "reviewer", verdict="wrong_rule", detail="not a rule")
    with pytest.raises(ValueError, match="takes no detail"):
        store.record_action("abc123", "acknowledge", "rita", "reviewer", detail="x")


def histogram_count(name: str, severity: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_count", {"severity": severity}) or 0.0


async def test_time_to_acknowledge_and_resolve_are_observed_once(store, settings):  # noqa: F811
    before = histogram_count("turnwatch_time_to_acknowledge_seconds", "critical")
    resolved = histogram_count("turnwatch_time_to_resolve_seconds", "critical")
    async with Harness(store, settings) as h:
        await h.sign_in()
        await h.act(action="acknowledge")
        await h.act(action="acknowledge")  # already acknowledged: not a second first acknowledgement
        await h.act(action="resolve")
    assert histogram_count("turnwatch_time_to_acknowledge_seconds", "critical") == before + 1
    assert histogram_count("turnwatch_time_to_resolve_seconds", "critical") == resolved + 1


async def test_silences_are_created_published_listed_and_expired(store, settings):  # noqa: F811
    async with Harness(store, settings) as h:
        await h.sign_in()
        page = await (await h.client.get("/silences")).text()
        csrf = CSRF_FIELD.search(page).group(1)
        form = {"csrf": csrf, "rule": "therapist.*", "severity": "info", "duration": "4h", "comment": "noisy info"}
        response = await h.client.post("/silences", data=form, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/silences?done=created"
        (silence,) = h.silences
        assert [(m.name, m.value) for m in silence.matchers] == [("rule", "therapist.*"), ("severity", "info")]
        assert silence.created_by == "rita" and silence.ends_at - silence.starts_at == timedelta(hours=4)
        listed = await (await h.client.get("/silences")).text()
        assert "rule=therapist.*" in listed and "noisy info" in listed and ">active<" in listed
        bad = await h.client.post("/silences", data={**form, "comment": " "}, allow_redirects=False)
        assert bad.status == 400
        none = await h.client.post(
            "/silences", data={"csrf": csrf, "duration": "4h", "comment": "x"}, allow_redirects=False
        )
        assert none.status == 400
        expire = await h.client.post(
            f"/silences/{silence.silence_id}/expire", data={"csrf": csrf}, allow_redirects=False
        )
        assert expire.status == 303
    ended = SilenceStore(store.engine).get(silence.silence_id)
    assert ended.expired_by == "rita" and ended.ends_at <= ended.updated_at + timedelta(seconds=1)
    assert len(h.silences) == 2 and h.silences[1].silence_id == silence.silence_id


def test_an_older_version_of_a_silence_changes_nothing(store):  # noqa: F811
    from streams.contracts import Matcher, SilenceEvent

    silences = SilenceStore(store.engine)
    first = SilenceEvent(
        silence_id="s1",
        matchers=[Matcher(name="rule", value="loop.*")],
        created_by="rita",
        comment="c",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        updated_at=T0,
    )
    later = first.model_copy(
        update={"ends_at": T0 + timedelta(minutes=5), "expired_by": "sam", "updated_at": T0 + timedelta(minutes=5)}
    )
    assert silences.save(first) and silences.save(later)
    assert not silences.save(first)  # a replay of the older version
    assert silences.get("s1").expired_by == "sam"
    assert [s.silence_id for s in silences.listing(T0 + timedelta(minutes=1))] == ["s1"]
