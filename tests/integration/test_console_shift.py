"""A reviewer's shift in the console, in Debian's chromium (Playwright), against the real console process,
its collector on a real tansu broker and its SQLite store (issue 24):

- an alert resolved with a verdict escalates: the queue, the feed and the open alert page say so without a
  reload, and the reloaded page shows it open with the earlier verdict stale;
- the queue groups a conversation's alerts into one row (worst severity, count, waiting time, newest
  activity), worst first then longest waiting, open conversations by default, and a rule glob narrows it;
  j/k move through it, Enter opens the conversation's worst alert;
- keys on the alert page: next/previous alert of the conversation, take (the assignee shown), acknowledge,
  a corrected verdict; the action bar stays in view down the page; the conversation's other alerts are
  listed and acknowledged together, after which the queue no longer lists it;
- a silence made in the form is listed with its author, published on the silences topic, and expired.

Alerts are published on the alerts topic the console reads, as the monitor would; no worker is needed.
Each test uses conversations of its own, so they share one console process and one browser.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from streams.console.silence_store import SilenceStore
from tests.factories import alert_record
from tests.integration.conftest import (
    CHROMIUM_ARGS,
    chromium_path,
    sign_in,
    wait_live,
    wait_until,
)

pytestmark = pytest.mark.integration

TOKEN = "reviewer-token-for-the-shift-test"
REVIEWER = "dr-shift"
LIVE_MS = 120_000  # an alert on the topic → the collector → the store → the browser, on two busy cores


@pytest.fixture(scope="module")
def console(module_harness):
    return module_harness.console({TOKEN: {"user": REVIEWER, "role": "reviewer"}})


@pytest.fixture(scope="module")
def browser(console):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def session(browser):
    """A browser context of its own (its own cookies), closed after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def store(console):
    opened = console.store()
    try:
        yield opened
    finally:
        opened.close()


def conversation(name: str) -> str:
    return f"shift-{name}-{uuid.uuid4().hex[:6]}"


def alert(
    conversation_id: str, rule: str, severity: str, minutes_ago: float = 0, quote: str = "a short quote", **fields
) -> dict:
    """An Alert as the monitor publishes it; ``fields`` replace Alert fields (an unknown one fails validation)."""
    alert_id = f"{rule.split('.')[1]}-{uuid.uuid4().hex[:8]}"
    record = alert_record(conversation_id, rule, severity, alert_id=alert_id, quote=quote)
    record["created_at"] = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()
    record["summary"] = f"{severity} {rule} in {conversation_id}"
    return record | fields


def stored(store, *alerts: dict) -> None:
    """Until the console's collector has stored every one of ``alerts``."""
    assert wait_until(lambda: all(store.alert(a["alert_id"]) is not None for a in alerts), 120), "not stored"


def queue_rows(page, prefix: str) -> list[dict[str, str]]:
    """The queue's rows of this test's conversations, top to bottom."""
    return page.eval_on_selector_all(
        "tr.queue-row",
        """(rows, prefix) => rows.filter(r => r.dataset.conversation.startsWith(prefix)).map(r => ({
             conversation: r.dataset.conversation,
             severity: r.querySelector('.badge').textContent.trim(),
             count: r.querySelector('.count').textContent.trim(),
             waiting: r.querySelectorAll('.age')[0].textContent.trim(),
             waiting_since: (r.querySelectorAll('.age')[0].querySelector('time') || {}).dateTime || null,
             latest_at: r.querySelectorAll('.age')[1].querySelector('time').dateTime,
             rules: Array.from(r.querySelectorAll('.rules code')).map(c => c.textContent),
           }))""",
        prefix,
    )


def minutes_waited(created_at: str, earliest: datetime, latest: datetime) -> set[str]:
    """The queue's "waiting" text for an alert created at ``created_at`` when the server rendered the row some
    time between ``earliest`` and ``latest`` (no assumption about how long that took)."""
    created = datetime.fromisoformat(created_at)
    low, high = ((moment - created).total_seconds() // 60 for moment in (earliest, latest))
    return {f"{minutes} min" for minutes in range(int(low), int(high) + 1)}


def test_an_alert_resolved_with_a_verdict_that_escalates_is_open_again_live_and_its_verdict_stale(
    console, session, store
):
    conv = conversation("reopen")
    first = alert(conv, "crisis.passive_ideation", "warning", quote="I just want to sleep for a long time")
    page = sign_in(session, console.url, TOKEN)
    wait_live(page)
    console.publish_alert(first)
    stored(store, first)

    # It arrives live in the queue (opened before the alert was published); the reviewer opens it from there, judges it a false positive, resolves it.
    opened = f"tr.queue-row.sev-warning[data-conversation='{conv}']"
    page.wait_for_selector(opened, timeout=LIVE_MS)
    page.locator(opened).click()
    page.wait_for_selector(f"#alert[data-alert-id='{first['alert_id']}']")
    page.check("input[name=verdict][value=false_positive]")
    page.fill("#note", "Tired after night shifts, no wish to die.")
    page.click(".verdict-form button[type=submit]")
    page.wait_for_selector(".message-ok")
    page.click("form.action-form[data-key=r] button")
    page.wait_for_selector("#alert[data-status=resolved]")
    assert page.inner_text(".alert-kicker .verdict") == "False positive"
    page.wait_for_selector("#alert[data-live=open]")

    # The queue (open conversations) no longer lists it; the feed shows it resolved with the verdict.
    queue = session.new_page()
    queue.goto(console.url + "/")
    wait_live(queue)
    assert queue.locator(f"tr.queue-row[data-conversation='{conv}']").count() == 0
    feed = session.new_page()
    feed.goto(console.url + "/alerts")
    wait_live(feed)
    row = f"tr.alert-row[data-alert-id='{first['alert_id']}']"
    assert feed.get_attribute(row, "data-status") == "resolved"
    assert feed.inner_text(f"{row} .verdict") == "False positive"

    # The same alert escalates with new evidence (what the monitor publishes under the same alert_id).
    escalated = first | {
        "severity": "critical",
        "turns": [3, 7],
        "summary": f"critical crisis.passive_ideation in {conv}: a plan",
        "evidence": first["evidence"]
        + [{"turn_index": 7, "role": "patient", "quote": "I have the pills saved up", "why": "method"}],
    }
    console.publish_alert(escalated)

    # Without a reload: the queue lists the conversation again, the feed row is open and critical with no
    # verdict, and the open alert page says the alert changed (its action keys are off until a reload).
    queue.wait_for_selector(f"tr.queue-row.sev-critical[data-conversation='{conv}']", timeout=LIVE_MS)
    feed.wait_for_selector(f"{row}[data-status=open][data-severity=critical]", timeout=LIVE_MS)
    assert feed.inner_text(f"{row} td:last-child") == "—", "the earlier verdict is no longer shown as current"
    page.wait_for_selector("#alert-changed", state="visible", timeout=LIVE_MS)
    assert "now critical, open" in page.inner_text("#alert-changed")

    # Reloaded, the page shows why it is open again and the earlier verdict as stale.
    page.reload()
    page.wait_for_selector("#alert[data-status=open][data-severity=critical]")
    assert "false_positive" in page.inner_text("#reopened")
    assert page.locator("input[name=verdict]:checked").count() == 0
    stale = page.locator("table.audit tr.is-stale")
    assert stale.count() == 1 and "False positive" in stale.inner_text() and "(stale)" in stale.inner_text()
    assert "I have the pills saved up" in page.inner_text(".evidence-list")

    view = store.alert(first["alert_id"])
    assert (view.status, view.verdict, view.alert.severity) == ("open", None, "critical")
    assert [a.action for a in view.actions] == ["verdict", "resolve", "reopen"]
    assert view.actions[0].stale and view.actions[0].actor == REVIEWER


def test_the_queue_groups_each_conversation_worst_first_then_longest_waiting_and_filters_by_rule_glob(
    console, session, store
):
    prefix = f"shift-q{uuid.uuid4().hex[:6]}-"
    one, two, three, handled = (prefix + name for name in ("one", "two", "three", "handled"))
    done = alert(handled, "loop.patient_refrain", "warning", minutes_ago=30)
    console.publish_alert(done)
    stored(store, done)
    store.record_action(done["alert_id"], "resolve", "someone", "reviewer")

    page = sign_in(session, console.url, TOKEN)
    wait_live(page)
    alerts = [
        alert(one, "crisis.active_ideation", "critical", minutes_ago=1),
        alert(one, "loop.patient_refrain", "warning", minutes_ago=5),
        alert(two, "therapist.dismisses", "high", minutes_ago=20),
        alert(two, "distress.sustained_high", "warning", minutes_ago=3),
        alert(three, "crisis.passive_ideation", "high", minutes_ago=8),
    ]
    published = datetime.now(UTC)
    console.publish_alert(*alerts)

    # Live: the queue refreshes as the alerts arrive, one row per conversation.
    expected = [(one, "critical", "2 / 2"), (two, "high", "2 / 2"), (three, "high", "1 / 1")]
    page.wait_for_function(
        """([prefix, want]) => JSON.stringify(Array.from(document.querySelectorAll('tr.queue-row'))
             .filter(r => r.dataset.conversation.startsWith(prefix))
             .map(r => [r.dataset.conversation, r.querySelector('.badge').textContent.trim(),
                        r.querySelector('.count').textContent.trim()])) === JSON.stringify(want)""",
        arg=[prefix, [list(row) for row in expected]],
        timeout=LIVE_MS,
    )
    rows = queue_rows(page, prefix)
    read = datetime.now(UTC)
    assert [r["rules"] for r in rows] == [
        ["crisis.active_ideation", "loop.patient_refrain"],
        ["distress.sustained_high", "therapist.dismisses"],
        ["crisis.passive_ideation"],
    ]
    # Waiting: since the conversation's oldest open alert; latest: its newest alert.
    waits = {r["conversation"]: r["waiting"] for r in rows}
    for conv, oldest in ((one, alerts[1]), (two, alerts[2]), (three, alerts[4])):
        assert waits[conv] in minutes_waited(oldest["created_at"], published, read), (conv, waits)
    for row, oldest, newest in zip(rows, (alerts[1], alerts[2], alerts[4]), (alerts[0], alerts[3], alerts[4])):
        assert datetime.fromisoformat(row["waiting_since"]) == datetime.fromisoformat(oldest["created_at"]), row
        assert datetime.fromisoformat(row["latest_at"]) == datetime.fromisoformat(newest["created_at"]), row
    assert handled not in waits, "a conversation with nothing open is not in the default queue"

    # Every status: the handled conversation is there, nothing open, nothing waiting.
    page.select_option("#q-status", "any")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"status=any"))
    everything = {r["conversation"]: r for r in queue_rows(page, prefix)}
    assert (everything[handled]["count"], everything[handled]["waiting"]) == ("0 / 1", "—")

    # "/" focuses the rule filter; a glob narrows the queue to conversations with a matching alert.
    page.goto(console.url + "/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q-rule"
    page.keyboard.type("crisis.*")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"rule=crisis\.\*"))
    narrowed = queue_rows(page, prefix)
    assert [(r["conversation"], r["severity"], r["count"]) for r in narrowed] == [
        (one, "critical", "1 / 1"),
        (three, "high", "1 / 1"),
    ]
    assert all(rule.startswith("crisis.") for row in narrowed for rule in row["rules"])
    every_rule = page.eval_on_selector_all("tr.queue-row .rules code", "codes => codes.map(c => c.textContent)")
    assert every_rule and all(rule.startswith("crisis.") for rule in every_rule)

    # j moves down the rows, k back up, Enter opens the conversation's worst alert.
    order = page.eval_on_selector_all("tr.queue-row", "rows => rows.map(r => r.dataset.conversation)")
    assert order.index(one) < order.index(three)

    def selected() -> str | None:
        return page.get_attribute("tr.queue-row.is-selected", "data-conversation")

    for _ in range(order.index(three) + 1):
        page.keyboard.press("j")
    assert selected() == three
    page.keyboard.press("k")
    assert selected() == order[order.index(three) - 1]
    assert page.locator("tr.queue-row.is-selected").count() == 1
    page.keyboard.press("j")
    assert selected() == three
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#alert[data-alert-id='{alerts[4]['alert_id']}']")


def test_keys_move_through_a_conversation_take_acknowledge_and_give_a_corrected_verdict(console, session, store):
    conv = conversation("keys")
    worst = alert(conv, "crisis.active_ideation", "critical", minutes_ago=2)
    middle = alert(conv, "distress.escalating", "high", minutes_ago=4)
    least = alert(conv, "loop.patient_refrain", "warning", minutes_ago=6)
    console.publish_alert(least, middle, worst)
    stored(store, worst, middle, least)

    page = sign_in(session, console.url, TOKEN)
    page.set_viewport_size({"width": 1280, "height": 600})  # short: the page scrolls under the action bar
    page.goto(f"{console.url}/alerts/{worst['alert_id']}")

    def at(expected: dict, **state: str) -> None:
        """On the expected alert's page (in that state), its keys listening (alert.js runs before DOMContentLoaded)."""
        wanted = "".join(f"[data-{name}={value}]" for name, value in state.items())
        page.wait_for_selector(f"#alert[data-alert-id='{expected['alert_id']}']{wanted}")
        page.wait_for_load_state("domcontentloaded")

    at(worst)
    assert "alert 1 of 3" in page.inner_text("#conversation-nav")
    for key, expected in (("n", middle), ("n", least), ("n", least), ("p", middle), ("p", worst), ("n", middle)):
        page.keyboard.press(key)
        at(expected)
    assert "alert 2 of 3" in page.inner_text("#conversation-nav")

    page.keyboard.press("t")
    page.wait_for_selector(".alert-kicker .assignee")
    at(middle)
    assert REVIEWER in page.inner_text(".alert-kicker .assignee")
    assert page.locator("form.action-form[data-key=t]").count() == 0, "nothing to take: it is the reviewer's"
    page.keyboard.press("a")
    at(middle, status="acknowledged")
    assert "Acknowledged" in page.inner_text(".message-ok")

    # v: to the verdict form, far down the page; the action bar stays in view (sticky) above it.
    page.keyboard.press("v")
    placed = page.evaluate(
        """() => ({bar: document.getElementById('action-bar').getBoundingClientRect().top,
                   head: document.querySelector('.alert-head').getBoundingClientRect().bottom,
                   scrolled: window.scrollY})"""
    )
    assert placed["scrolled"] > 0 and placed["head"] < 0, placed  # the alert's header has scrolled away
    assert 0 <= placed["bar"] < 2, placed  # the bar has not
    assert page.locator("#action-bar form[data-key=r] button").is_visible()
    # Arrows choose "right, but wrong severity", Tab to the severity, Enter sends.
    assert page.evaluate("document.activeElement.value") == "true_positive"
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.value") == "wrong_severity"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "corrected-severity"
    page.keyboard.press("c")  # type-ahead: critical
    assert page.evaluate("document.activeElement.value") == "critical"
    page.keyboard.press("Tab")
    page.keyboard.type("Real escalation; it should have paged as critical.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#alert[data-verdict=wrong_severity]")
    assert page.inner_text(".alert-kicker .verdict") == "Right, wrong severity: critical"

    view = store.alert(middle["alert_id"])
    assert (view.status, view.verdict, view.verdict_detail, view.assignee) == (
        "acknowledged",
        "wrong_severity",
        "critical",
        REVIEWER,
    )
    assert view.verdict_note == "Real escalation; it should have paged as critical."
    assert [(a.action, a.actor) for a in view.actions] == [(x, REVIEWER) for x in ("assign", "acknowledge", "verdict")]
    assert store.alert(worst["alert_id"]).status == store.alert(least["alert_id"]).status == "open"

    events = console.consume("verdicts", lambda records: sum(r["alert_id"] == middle["alert_id"] for r in records) >= 3)
    sent = [(e["action"], e.get("verdict"), e.get("corrected")) for e in events if e["alert_id"] == middle["alert_id"]]
    assert sent == [("assign", None, None), ("acknowledge", None, None), ("verdict", "wrong_severity", "critical")]

    # q: back to the queue; the conversation is still waiting (two alerts open), worst first.
    page.keyboard.press("q")
    row = f"tr.queue-row[data-conversation='{conv}']"
    page.wait_for_selector(row)
    assert "sev-critical" in page.get_attribute(row, "class") and page.inner_text(f"{row} .count") == "2 / 2"

    # Opened from the queue, the worst alert lists the others; one button acknowledges every open one.
    page.locator(row).click()
    at(worst)
    others = "ul.conversation-alerts li"
    listing = (
        "items => items.map(li => [li.querySelector('code').textContent, li.querySelector('.status').textContent])"
    )
    assert dict(page.eval_on_selector_all(others, listing)) == {
        middle["rule"]: "acknowledged",
        least["rule"]: "open",
    }
    page.click("#conversation-alerts form button[type=submit]")
    at(worst, status="acknowledged")
    assert page.inner_text(".message-ok") == "Every open alert of this conversation is acknowledged."
    assert dict(page.eval_on_selector_all(others, listing)) == {
        middle["rule"]: "acknowledged",
        least["rule"]: "acknowledged",
    }
    assert page.locator("#conversation-alerts form").count() == 0, "nothing left to acknowledge"
    for acknowledged in (worst, least):
        view = store.alert(acknowledged["alert_id"])
        assert view.status == "acknowledged" and [(a.action, a.actor) for a in view.actions] == [
            ("acknowledge", REVIEWER)
        ]
    events = console.consume(
        "verdicts",
        lambda records: (
            {(r["alert_id"], r["action"]) for r in records}
            >= {(worst["alert_id"], "acknowledge"), (least["alert_id"], "acknowledge")}
        ),
    )
    assert sum(e["alert_id"] in (worst["alert_id"], least["alert_id"]) for e in events) == 2

    # Nothing of it is open: the default queue no longer lists the conversation.
    page.goto(console.url + "/")
    assert page.locator(row).count() == 0


def test_a_silence_made_in_the_form_is_listed_with_its_author_published_and_expired(console, session, store):
    conv = conversation("silence")
    comment = f"Known template issue in {conv}; fix ships tonight."
    page = sign_in(session, console.url, TOKEN)
    page.goto(console.url + "/silences")
    page.fill("#s-rule", "therapist.*")
    page.select_option("#s-severity", "warning")
    page.fill("#s-conversation", conv)
    page.select_option("#s-duration", "4h")
    page.fill("#s-comment", comment)
    before = datetime.now(UTC)
    page.click(".silence-form button[type=submit]")
    page.wait_for_selector("text=Silence created and sent to delivery.")
    after = datetime.now(UTC)

    row = page.locator("tr.silence-row", has_text=comment)
    assert row.count() == 1
    silence_id = row.get_attribute("data-silence")
    text = row.inner_text()
    assert "active" in text and REVIEWER in text
    assert row.locator("code").all_inner_texts() == ["rule=therapist.*", "severity=warning", f"conversation_id={conv}"]
    until = datetime.fromisoformat(row.locator("time").get_attribute("datetime"))
    assert before + timedelta(hours=4) <= until <= after + timedelta(hours=4), (before, until, after)

    published = console.consume("silences", lambda records: any(r["silence_id"] == silence_id for r in records))
    [event] = [r for r in published if r["silence_id"] == silence_id]
    assert (event["created_by"], event["comment"], event.get("expired_by")) == (REVIEWER, comment, None)
    assert [(m["name"], m["value"]) for m in event["matchers"]] == [
        ("rule", "therapist.*"),
        ("severity", "warning"),
        ("conversation_id", conv),
    ]
    assert datetime.fromisoformat(event["ends_at"]) - datetime.fromisoformat(event["starts_at"]) == timedelta(hours=4)

    # Expiring sets the end to now, but never before one second after the start (a silence's end is after its
    # start): wait for that second so the list can show it ended.
    starts = datetime.fromisoformat(event["starts_at"])
    assert wait_until(lambda: datetime.now(UTC) > starts + timedelta(seconds=1), 30)
    row.locator("button", has_text="Expire").click()
    page.wait_for_selector("text=Silence expired; notifications resume.")
    row = page.locator(f"tr.silence-row[data-silence='{silence_id}']")
    assert "expired" in row.inner_text() and f"(ended by {REVIEWER})" in row.inner_text()
    assert row.locator("button").count() == 0, "an expired silence cannot be expired again"

    published = console.consume(
        "silences", lambda records: any(r["silence_id"] == silence_id and r.get("expired_by") for r in records)
    )
    ended = [r for r in published if r["silence_id"] == silence_id and r.get("expired_by")][-1]
    assert ended["expired_by"] == REVIEWER and datetime.fromisoformat(ended["ends_at"]) <= datetime.now(UTC)
    kept = SilenceStore(store.engine).get(silence_id)
    assert kept is not None and kept.expired_by == REVIEWER and kept.comment == comment
