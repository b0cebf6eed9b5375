"""The reviewer console end to end with real parts: a tansu broker, a worker fed by a replay, the
console process on SQLite, Debian's chromium driven by Playwright, a real Prometheus.

A crisis alert arrives live in the browser's feed (``/alerts``) and its conversation in the queue
(``/``), the reviewer opens it, sees the evidence in the conversation, marks a verdict; the verdict
is on ``turnwatch.verdicts``, in the console's ``/metrics``, and the safety dashboard's precision
panel computes it on Prometheus. Screenshots of the queue, the feed and the alert page are saved
under the test's temporary folder (and under ``TURNWATCH_SCREENSHOT_DIR`` when set, which is how
the README's were made). The shift's work (escalation reopen, grouped queue, keys, silences) is in
``test_console_shift.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from streams.contracts import VerdictEvent
from streams.examples import EXAMPLES_DIR
from streams.kafka.broker import free_port
from streams.kafka.topics import ensure_topics
from streams.testing.isolation import isolated
from streams.testing.workers import metric_lines
from streams.tooling.dashboards import queries, rendered
from tests.deploy.test_dashboards import grafana_to_prometheus
from tests.integration.conftest import (
    CHROMIUM_ARGS,
    chromium_path,
    consume,
)
from tests.integration.test_dashboard_queries import has_data, prom_query

pytestmark = pytest.mark.integration

TOKEN = "reviewer-token-for-the-browser-test"
CRISIS = EXAMPLES_DIR / "01_escalating_distress_crisis.txt"
LIVE_TIMEOUT_MS = 180_000  # two busy cores: worker start-up and the encoder share them with the browser


def wait_until(condition, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()


@pytest.fixture(scope="module")
def stack(broker, module_harness):
    workdir = module_harness.workdir
    own = isolated("console")
    topics = own.topics
    created = ("turns", "alerts", "dlq", "delivery_retry", "delivery_dlq", "verdicts")
    tokens = workdir / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({TOKEN: {"user": "dr-test", "role": "reviewer"}}))
    console_port, worker_port = free_port(), free_port()
    env = {
        **own.env,
        "TURNWATCH_DATA_DIR": str(workdir),
        "TURNWATCH_CONSOLE_TOKENS_FILE": str(tokens),
        "TURNWATCH_CONSOLE_DB_URL": f"sqlite:///{workdir / 'console.db'}",
        "TURNWATCH_CONSOLE_PORT": str(console_port),
        "TURNWATCH_WEB_PORT": str(worker_port),
        "TURNWATCH_CONSOLE_SESSION_SECRET": "browser-test-session-secret",
    }
    scrape = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: console\n    static_configs: [{{targets: ['127.0.0.1:{console_port}']}}]\n"
    )
    # Prometheus first: without it the test skips (or fails in CI) before anything else is started.
    prom_port = module_harness.prometheus(scrape)
    ensure_topics(broker.address, [topics[role] for role in created], 4)
    module_harness.worker_and_console(env)
    return {
        "broker": broker.address,
        "topics": topics,
        "env": env,
        "url": f"http://127.0.0.1:{console_port}",
        "console_port": console_port,
        "prom_port": prom_port,
        "workdir": workdir,
    }


def replay(stack, path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", "--quiet", str(path)],
        env={**os.environ, **stack["env"], "TURNWATCH_BROKER": stack["broker"]},
        check=True,
        capture_output=True,
        timeout=120,
    )


def save(page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("TURNWATCH_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)


def review_a_crisis_in_the_browser(browser, stack, tmp_path: Path) -> tuple[str, str]:
    """Sign in, watch the queue and the feed while a crisis is replayed, open the alert, mark a verdict;
    the alert's id and rule."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(stack["url"] + "/login")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#queue")  # signed in, the reviewer lands on the queue
    assert page.locator("tr.queue-row").count() == 0
    queue = context.new_page()  # the same context: the same session
    queue.goto(stack["url"] + "/")
    page.goto(stack["url"] + "/alerts")
    page.wait_for_selector("#feed")
    assert page.locator("tr.alert-row").count() == 0
    for live in (page, queue):
        live.wait_for_function("document.querySelector('#live-status').dataset.state === 'live'", timeout=60_000)

    replay(stack, CRISIS)
    row = page.wait_for_selector("tr.alert-row.sev-critical[data-rule^='crisis.']", timeout=LIVE_TIMEOUT_MS)
    shown_at = time.time()
    created = datetime.fromisoformat(row.get_attribute("data-created")).timestamp()
    print(f"live feed delay, alert created → row shown: {1000 * (shown_at - created):.0f} ms")
    rule = row.get_attribute("data-rule")
    alert_id = row.get_attribute("data-alert-id")
    # The queue, live too (no reload): the conversation, critical, opening on its worst alert.
    queue.wait_for_selector("tr.queue-row.sev-critical", timeout=LIVE_TIMEOUT_MS)
    feed_ids = page.eval_on_selector_all("tr.alert-row", "rows => rows.map(r => r.dataset.alertId)")
    assert queue.locator("tr.queue-row").count() == 1, "one conversation: one queue row"
    assert queue.get_attribute("tr.queue-row", "data-href").split("/")[-1] in feed_ids
    page.wait_for_timeout(2000)  # only for the screenshot: the rest of the conversation's alerts
    save(page, tmp_path, "console-feed.png")
    save(queue, tmp_path, "console-queue.png")
    queue.close()

    row.query_selector("a").click()
    page.wait_for_selector(f"#alert[data-alert-id='{alert_id}']")
    assert page.locator("ol.timeline li.turn").count() >= 3, "the conversation's turns are on the page"
    assert page.locator("ol.timeline mark").count() >= 1, "the evidence is highlighted in the turn"
    assert page.locator("figure.distress svg").count() == 1
    save(page, tmp_path, "console-alert.png")

    page.check("input[name=verdict][value=true_positive]")
    page.fill("#note", "Confirmed: the patient describes a method; escalated to the on-call clinician.")
    page.click(".verdict-form button[type=submit]")
    page.wait_for_selector("#alert[data-verdict=true_positive]")
    assert "Verdict recorded" in page.inner_text(".message-ok")
    assert "dr-test" in page.inner_text("table.audit")

    # The feed's rule filter takes a glob: crisis.* keeps the crisis rows, this one among them.
    page.goto(stack["url"] + "/alerts?rule=crisis.*")
    rules = page.eval_on_selector_all("tr.alert-row", "rows => rows.map(r => [r.dataset.alertId, r.dataset.rule])")
    assert alert_id in dict(rules) and all(r.startswith("crisis.") for _, r in rules), rules
    assert page.input_value("#f-rule") == "crisis.*"
    return alert_id, rule


def test_a_reviewer_sees_a_crisis_arrive_live_opens_it_and_marks_a_verdict(stack, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            alert_id, rule = review_a_crisis_in_the_browser(browser, stack, tmp_path)
        finally:
            browser.close()

    verdicts = consume(
        stack["broker"], stack["topics"]["verdicts"], lambda records: any(r["alert_id"] == alert_id for r in records)
    )
    [event] = [VerdictEvent.model_validate(v) for v in verdicts if v["alert_id"] == alert_id]
    assert (event.action, event.verdict, event.rule, event.actor) == ("verdict", "true_positive", rule, "dr-test")

    series = f'turnwatch_verdicts_total{{rule="{rule}",verdict="true_positive"}}'
    assert wait_until(lambda: any(line.startswith(series + " 1.0") for line in metric_lines(stack["console_port"])), 60)

    [(_, precision)] = [
        (title, expr)
        for title, expr in queries(rendered()["safety.json"])
        if title.startswith("Precision in production")
    ]
    query = grafana_to_prometheus(precision, window="5m")
    result = wait_until(
        lambda: has_data(prom_query(stack["prom_port"], query)) and prom_query(stack["prom_port"], query), 120
    )
    assert result, "the precision panel has no data"
    by_rule = {sample["metric"]["rule"]: float(sample["value"][1]) for sample in result}
    assert by_rule[rule] == 1.0


POST_ACTION = """async ([path, body]) => {
    const response = await fetch(path, {method: "POST", body: new URLSearchParams(body), redirect: "manual"});
    return [response.status, await response.text()];
}"""


def test_the_console_refuses_a_page_without_a_session_and_an_action_without_csrf(stack):
    """In the browser: no session, the queue sends the reviewer to sign in and an action is refused; signed in,
    an action without the form's CSRF token (or with a forged one) is refused before anything is looked up."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.goto(stack["url"] + "/")
            page.wait_for_selector("#token")
            sent_to = urlsplit(page.url)
            assert (sent_to.path, parse_qs(sent_to.query)) == ("/login", {"next": ["/"]}), page.url
            status, _ = page.evaluate(POST_ACTION, ["/alerts/any/actions", {"action": "resolve"}])
            assert status == 401, "no session: refused"

            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_selector("#queue")  # sent back to where the reviewer was going
            assert page.url == stack["url"] + "/"
            for body in ({"action": "resolve"}, {"action": "resolve", "csrf": "forged"}):
                status, text = page.evaluate(POST_ACTION, ["/alerts/any/actions", body])
                assert status == 403 and "did not come from the console" in text, (status, text)
        finally:
            browser.close()
