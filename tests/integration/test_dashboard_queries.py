"""Every dashboard panel's query returns data from a real Prometheus scraping a real worker and a
real reviewer console, with the scrape jobs of compose's Prometheus config.

The worker is fed by a replay and delivers to a webhook and to two stand-in PagerDuty services
(critical alerts page, and escalate after 2 s when nobody acknowledges; a shaming alert inhibits
the conversation's later therapist alerts). Before the replay a reviewer signs in to the console
over HTTP and silences the loop detector; after it, acknowledges, resolves and judges alerts,
exactly as through the browser: the time-to-acknowledge / resolve histograms, the verdict
counters, the escalation and paging-update counters, the silenced and inhibited deliveries and
the silence gauge all hold real samples.
"""

from __future__ import annotations

import http.cookiejar
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from streams import metrics
from streams.examples import EXAMPLES_DIR
from streams.kafka.broker import free_port
from streams.kafka.topics import ensure_topics
from streams.testing.counting_receiver import Receiver
from streams.testing.isolation import isolated
from streams.tooling.dashboards import CONSOLE_JOB, WORKER_JOB, queries, rendered
from tests.deploy.test_dashboards import grafana_to_prometheus
from tests.integration.conftest import (
    consume,
    wait_until,
)
from tests.integration.test_delivery import SECRET

pytestmark = pytest.mark.integration

COMPOSE_PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "prometheus.compose.yml"
TOKEN = "reviewer-token-for-the-dashboard-test"
PD_KEY = "routing-key-dashboards"
SILENCED = {"detector": "loop"}  # 05_loops_and_promises alerts from this detector only, none critical
INHIBITING, INHIBITED = "therapist.harsh_or_shaming", "therapist.*"  # 06_therapist_failures, 10_roleplay_shaming
FIRST_SHAMING = "06_therapist_failures.txt"  # replayed with the seeds; 10_roleplay_shaming with the other examples


def prom_query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def has_data(result: list) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def values(result: list, label: str) -> dict[str, float]:
    return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in result}


def delivery_config(webhook_url: str, pagerduty_base: str) -> str:
    return f"""
cooldown_seconds: 0
max_attempts: 60
backoff_initial_seconds: 0.2
backoff_max_seconds: 1.0
excerpt_chars: 60
receivers:
  - {{name: oncall, kind: webhook, url: "{webhook_url}", secret: {{env: TW_WEBHOOK_SECRET}}}}
  - {{name: pager, kind: pagerduty, routing_key: {{env: TW_TEST_PD_KEY}}, url: "{pagerduty_base}/pd/pager"}}
  - {{name: lead, kind: pagerduty, routing_key: {{env: TW_TEST_PD_KEY}}, url: "{pagerduty_base}/pd/lead"}}
routes:
  - match: {{min_severity: critical}}
    receivers: [pager]
    continue: true
  - receivers: [oncall]
escalations:
  - match: {{min_severity: critical}}
    steps:
      - {{after_seconds: 2, receivers: [lead]}}
inhibit_rules:
  - source: {{rules: ["{INHIBITING}"]}}
    target: {{rules: ["{INHIBITED}"], max_severity: high}}
    equal: [conversation_id]
"""


def prometheus_config(ports: dict[str, int]) -> str:
    """Compose's scrape jobs (names, paths), each pointed at the local process standing in for its service."""
    compose = yaml.safe_load(COMPOSE_PROMETHEUS.read_text())
    jobs = [
        {
            "job_name": job["job_name"],
            "metrics_path": job.get("metrics_path", "/metrics"),
            "static_configs": [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}],  # a new job needs a process
        }
        for job in compose["scrape_configs"]
    ]
    return yaml.safe_dump({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": jobs})


class Reviewer:
    """A reviewer in the console over HTTP: signs in with a token, then posts its forms (CSRF included)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.get("/login")
        landed = self.post("/login", {"token": token, "next": "/", "csrf": self.csrf(page)})
        assert "/login" not in landed, "signed in"

    def get(self, path: str) -> str:
        with self.opener.open(self.url + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, form: dict[str, str]) -> str:
        """Post a form, follow the redirect; the URL landed on."""
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(urllib.request.Request(self.url + path, data=data, method="POST"), timeout=60) as r:
            return r.geturl()

    @staticmethod
    def csrf(page: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def has(self, alert_id: str) -> bool:
        try:
            self.get(f"/alerts/{alert_id}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise
        return True

    def act(self, alert_id: str, action: str, **fields: str) -> None:
        form = {"action": action, "csrf": self.csrf(self.get(f"/alerts/{alert_id}")), **fields}
        landed = self.post(f"/alerts/{alert_id}/actions", form)
        assert f"done={action}" in landed, landed

    def silence(self, **matchers: str) -> None:
        form = {"duration": "1h", "comment": "dashboard test", **matchers}
        landed = self.post("/silences", {**form, "csrf": self.csrf(self.get("/silences"))})
        assert "done=created" in landed, landed


def all_alerts(broker: str, topic: str) -> list[dict]:
    """Every alert record on the topic, in order (an upgraded alert is a second record, same alert_id)."""
    return consume(broker, topic, lambda records: False, timeout=10)


def latest_alerts(records: list[dict]) -> dict[str, dict]:
    """The last version of each alert_id."""
    return {record["alert_id"]: record for record in records}


def review(reviewer: Reviewer, prom_port: int, alerts: dict[str, dict]) -> dict:
    """Act on two critical alerts in two rounds a few scrapes apart (a histogram's or counter's first
    sample is not an increase), leaving the other criticals unacknowledged."""
    by_severity: dict[str, list[dict]] = defaultdict(list)
    for alert in alerts.values():
        by_severity[alert["severity"]].append(alert)
    criticals = sorted(by_severity["critical"], key=lambda a: a["created_at"])
    assert len(criticals) >= 3, f"the replay gave {len(criticals)} critical alerts; the test needs 3"
    first, second = criticals[:2]
    for alert in (first, second):
        assert wait_until(lambda alert=alert: reviewer.has(alert["alert_id"]), timeout=120), "the console stored it"
    # The console starts each stored alert's verdict series at 0: wait until Prometheus has it.
    assert wait_until(
        lambda: prom_query(prom_port, f'turnwatch_verdicts_total{{rule="{first["rule"]}"}}'), timeout=30
    ), "the console's verdict series are scraped"

    reviewer.act(first["alert_id"], "acknowledge")
    reviewer.act(first["alert_id"], "verdict", verdict="true_positive", note="confirmed")
    reviewer.act(first["alert_id"], "resolve")
    for metric in ("turnwatch_time_to_acknowledge_seconds_count", "turnwatch_time_to_resolve_seconds_count"):
        assert wait_until(lambda metric=metric: prom_query(prom_port, metric), timeout=30), metric
    time.sleep(3)  # a few scrapes of the first round's values

    reviewer.act(second["alert_id"], "acknowledge")
    verdict = "true_positive" if second["rule"] != first["rule"] else "false_positive"
    reviewer.act(second["alert_id"], "verdict", verdict=verdict, note="judged")
    reviewer.act(second["alert_id"], "resolve")
    precision = {first["rule"]: 1.0, second["rule"]: 1.0} if verdict == "true_positive" else {first["rule"]: 0.5}
    return {"precision": precision, "criticals": len(criticals)}


@pytest.fixture(scope="module")
def scraped(broker, module_harness, seed_paths):
    workdir = module_harness.workdir
    tokens = workdir / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({TOKEN: {"user": "dr-dash", "role": "reviewer"}}))
    own = isolated("dash")
    topics = {name: topic for name, topic in own.env.items() if name != "TURNWATCH_APP_ID"}
    worker_port, console_port = free_port(), free_port()
    # Prometheus first: without it the test skips (or fails in CI) before anything else is started.
    prom_port = module_harness.prometheus(prometheus_config({WORKER_JOB: worker_port, CONSOLE_JOB: console_port}))
    webhook = module_harness.running(Receiver(SECRET.encode()))
    pagerduty = module_harness.receivers()
    (workdir / "delivery.yaml").write_text(delivery_config(webhook.url, pagerduty.base))
    env = {
        **own.env,
        "TURNWATCH_DELIVERY_CONFIG": str(workdir / "delivery.yaml"),
        "TW_WEBHOOK_SECRET": SECRET,
        "TW_TEST_PD_KEY": PD_KEY,
        "TURNWATCH_DATA_DIR": str(workdir),
        "TURNWATCH_CONSOLE_TOKENS_FILE": str(tokens),
        "TURNWATCH_CONSOLE_DB_URL": f"sqlite:///{workdir / 'console.db'}",
        "TURNWATCH_CONSOLE_PORT": str(console_port),
        "TURNWATCH_WEB_PORT": str(worker_port),
        "TURNWATCH_CONSOLE_SESSION_SECRET": "dashboard-test-session-secret",
    }
    ensure_topics(broker.address, list(topics.values()), 4)
    module_harness.worker_and_console(env, ready_timeout=90)
    reviewer = Reviewer(f"http://127.0.0.1:{console_port}", TOKEN)
    reviewer.silence(**SILENCED)
    # Delivery honours it once the worker has read it from the silences topic (its gauge says so).
    assert wait_until(
        lambda: values(prom_query(prom_port, "max(turnwatch_active_silences)"), "") == {"": 1.0}, timeout=60
    ), "the worker read the silence"
    replay_env = {**os.environ, **env, "TURNWATCH_BROKER": broker.address}
    started = time.time()
    # Two bursts a few scrapes apart, so every counter has a rate, not just a value: a labelled
    # series is born with its first increment, and that first sample is no increase. Each burst
    # has loop alerts (silenced) and a shaming conversation (inhibited).
    examples = sorted(p for p in EXAMPLES_DIR.iterdir() if p.suffix in (".txt", ".jsonl"))
    first = [*seed_paths, *(p for p in examples if p.name == FIRST_SHAMING)]
    for paths in (first, [p for p in examples if p not in first]):
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "replay", "--quiet", *map(str, paths)],
            env=replay_env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        time.sleep(6)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not has_data(
        prom_query(prom_port, "sum(rate(turnwatch_deliveries_total[30s]))")
    ):
        time.sleep(1)
    records = all_alerts(broker.address, topics["TURNWATCH_ALERTS_TOPIC"])
    reviewed = review(reviewer, prom_port, latest_alerts(records))
    return {
        "port": prom_port,
        "started": started,
        "pagerduty": pagerduty,
        "webhook": webhook,
        "records": records,
        **reviewed,
    }


def panel_query(board: str, title_start: str) -> str:
    """The panel's first query (p50 of a quantile panel)."""
    titles = {title for title, _ in queries(rendered()[board]) if title.startswith(title_start)}
    assert len(titles) == 1, titles
    return next(expr for title, expr in queries(rendered()[board]) if title in titles)


def run(scraped, expr: str) -> list:
    # Like Grafana's $__rate_interval over a range that covers the replay and the reviews.
    window = f"{int(time.time() - scraped['started']) + 15}s"
    return prom_query(scraped["port"], grafana_to_prometheus(expr, rate=window, window="10m"))


@pytest.mark.parametrize("board", sorted(rendered()))
def test_every_panel_query_returns_data(scraped, board):
    pending = {f"{title}: {expr}": expr for title, expr in queries(rendered()[board])}
    deadline = time.monotonic() + 45  # the last round's actions reach the worker, then a scrape
    while pending and time.monotonic() < deadline:
        pending = {name: expr for name, expr in pending.items() if not has_data(run(scraped, expr))}
        if pending:
            time.sleep(1)
    assert not pending, "panels without data:\n" + "\n".join(pending)


def test_the_on_call_panels_show_what_the_reviewer_did(scraped):
    assert values(run(scraped, panel_query("operations.json", "Reviewer console up")), "") == {"": 1.0}

    ack = run(scraped, panel_query("safety.json", "Time to acknowledge"))
    resolve = run(scraped, panel_query("safety.json", "Time to resolve"))
    # Both alerts were created after the replay began, so each time is under the time since then
    # and the interpolated quantile is inside the bucket that holds it.
    since_replay = time.time() - scraped["started"]
    bucket = min(b for b in metrics.REVIEW_SECONDS_BUCKETS if b >= since_replay)
    for result in (ack, resolve):
        assert 0 < values(result, "severity")["critical"] <= bucket, "timed from the alert's creation"

    # Only the rules judged in range: the others' series (started at 0 by the console) are no NaN bars.
    precision = values(run(scraped, panel_query("safety.json", "Precision in production")), "rule")
    assert precision == scraped["precision"]

    # The criticals nobody acknowledged escalated through every step; the two acted on left the gauge.
    assert wait_until(
        lambda: (
            values(run(scraped, panel_query("safety.json", "Critical alerts unacknowledged")), "")
            == {"": float(scraped["criticals"] - 2)}
        ),
        timeout=30,
    )
    standing = values(run(scraped, panel_query("safety.json", "Unacknowledged critical alerts")), "escalation")
    assert standing["exhausted"] == scraped["criticals"] - 2 and standing["pending"] == 0
    assert values(run(scraped, "sum by (step) (turnwatch_escalations_total)"), "step")["1"] >= scraped["criticals"]

    def updates() -> set[str]:
        return {
            key
            for key, value in values(
                run(scraped, "sum by (action) (turnwatch_paging_updates_total{sink='pagerduty'})"), "action"
            ).items()
            if value >= 2 * 2  # two alerts, each paged to pager and escalated to lead
        }

    assert wait_until(lambda: updates() == {"acknowledge", "resolve"}, timeout=30), updates()
    assert values(run(scraped, panel_query("safety.json", "Active silences")), "") == {"": 1.0}


def held_back_by_the_test(records: list[dict]) -> dict[str, set[tuple[str, str]]]:
    """Per outcome, the (alert_id, severity) versions the test's silence and inhibit rule hold back,
    from the alert records in topic order; each reaches one receiver here (oncall: none is critical)."""
    silenced = {(r["alert_id"], r["severity"]) for r in records if r["detector"] == SILENCED["detector"]}
    sources: dict[str, str] = {}  # conversation -> its shaming alert that was sent out
    inhibited = set()
    for r in records:
        source = sources.get(r["conversation_id"])
        if r["rule"].startswith("therapist.") and r["severity"] != "critical" and source not in (None, r["alert_id"]):
            inhibited.add((r["alert_id"], r["severity"]))
        elif r["rule"] == INHIBITING and source is None:
            sources[r["conversation_id"]] = r["alert_id"]
    return {"silenced": silenced, "inhibited": inhibited}


def test_silenced_and_inhibited_notifications_are_on_the_board(scraped):
    held = held_back_by_the_test(scraped["records"])
    expected = {outcome: float(len(versions)) for outcome, versions in held.items()}
    assert all(expected.values()), f"the replay exercises both: {expected}"

    def counted() -> dict[str, float]:
        totals = 'sum by (outcome) (turnwatch_deliveries_total{outcome=~"silenced|inhibited"})'
        return values(run(scraped, totals), "outcome")

    assert wait_until(lambda: counted() == expected, timeout=30), (counted(), expected)
    held_back = run(scraped, panel_query("safety.json", "Notifications held back"))
    shown = {(s["metric"]["sink"], s["metric"]["outcome"]) for s in held_back if float(s["value"][1]) > 0}
    assert shown == {("webhook", "silenced"), ("webhook", "inhibited")}

    # None of them reached the webhook; the others did.
    received = {(a["alert_id"], a["severity"]) for a in map(json.loads, scraped["webhook"].bodies)}
    assert received and not received & (held["silenced"] | held["inhibited"])
