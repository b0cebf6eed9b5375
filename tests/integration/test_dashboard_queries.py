"""Every dashboard panel's query returns data from a real Prometheus scraping a real worker."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from streams.examples import EXAMPLES_DIR
from streams.runtime.broker import free_port
from streams.runtime.delivery.counting_receiver import Receiver
from streams.runtime.processes import stop_process
from streams.runtime.replay import ensure_topics
from streams.runtime.worker import spawn_worker, wait_ready
from streams.tooling.dashboards import queries, rendered
from tests.deploy.test_dashboards import grafana_to_prometheus
from tests.deploy.test_ops_alerting import tool
from tests.integration.test_delivery import SECRET, config_yaml

pytestmark = pytest.mark.integration


def prom_query(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def has_data(result: list) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


@pytest.fixture(scope="module")
def scraped(broker, tmp_path_factory, seed_paths):
    workdir = tmp_path_factory.mktemp("dashboards")
    receiver = Receiver(SECRET.encode()).start()
    (workdir / "delivery.yaml").write_text(config_yaml(receiver.url))
    suffix = uuid.uuid4().hex[:8]
    env = {
        "TURNWATCH_APP_ID": f"tw-dash-{suffix}",
        "TURNWATCH_TURNS_TOPIC": f"turns-{suffix}",
        "TURNWATCH_ALERTS_TOPIC": f"alerts-{suffix}",
        "TURNWATCH_DLQ_TOPIC": f"dlq-{suffix}",
        "TURNWATCH_DELIVERY_RETRY_TOPIC": f"retry-{suffix}",
        "TURNWATCH_DELIVERY_DLQ_TOPIC": f"ddlq-{suffix}",
        "TURNWATCH_DELIVERY_CONFIG": str(workdir / "delivery.yaml"),
        "TW_WEBHOOK_SECRET": SECRET,
        "TURNWATCH_DATA_DIR": str(workdir),
    }
    ensure_topics(broker.address, [v for k, v in env.items() if k.endswith("_TOPIC")], 4)
    worker_port, prom_port = free_port(), free_port()
    worker = spawn_worker(broker.address, worker_port, workdir / "worker.log", extra_env=env)
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: turnwatch\n    static_configs: [{{targets: ['127.0.0.1:{worker_port}']}}]\n"
    )
    prometheus = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=open(workdir / "prometheus.log", "wb"),  # noqa: SIM115 (the child keeps it)
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(worker_port, timeout=90, process=worker)
        replay_env = {**os.environ, **env, "TURNWATCH_BROKER": broker.address}
        started = time.time()
        # Two bursts a few scrapes apart, so every counter has a rate, not just a value.
        for paths in ([str(p) for p in seed_paths], [str(EXAMPLES_DIR)]):
            subprocess.run(
                [sys.executable, "-m", "streams.cli", "replay", "--quiet", *paths],
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
        yield prom_port, started
    finally:
        prometheus.terminate()
        prometheus.wait(20)
        stop_process(worker)
        receiver.stop()


@pytest.mark.parametrize("board", sorted(rendered()))
def test_every_panel_query_returns_data(scraped, board):
    port, started = scraped
    # Like Grafana's $__rate_interval over a range that covers the replay.
    window = f"{int(time.time() - started) + 15}s"
    empty = []
    for title, expr in queries(rendered()[board]):
        if "turnwatch_verdicts_total" in expr:
            continue  # the console's panels: proven against a console in tests/integration/test_console.py
        result = prom_query(port, grafana_to_prometheus(expr, rate=window, window="10m"))
        if not has_data(result):
            empty.append(f"{title}: {expr}")
    assert not empty, "panels without data:\n" + "\n".join(empty)
