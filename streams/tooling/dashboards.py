"""Grafana dashboards as code (grafana-foundation-sdk): ``turnwatch dashboards --out DIR``.

Two boards: *operations* (is the pipeline healthy and fast?) and *safety* (what are the
detectors finding, and how fast do people answer them?). Queries use Grafana's
``$__rate_interval`` / ``$__range``, except the review-time quantiles: acknowledgements and
resolutions are a few an hour, so those take a sliding ``REVIEW_WINDOW``. The dashboard test
substitutes the variables and runs each query on a real Prometheus scraping a worker and the
console (job names as in ``deploy/prometheus/prometheus.compose.yml``).
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"
REVIEW_WINDOW = "1h"  # time to acknowledge / resolve: quantiles over the acknowledgements of the past hour
WORKER_JOB, CONSOLE_JOB = "turnwatch", "turnwatch-console"  # scrape jobs (compose; k8s Service names)


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)


def series(title: str, *queries: prometheus.Dataquery, unit: str = "short", width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).height(8).span(width).datasource(DATASOURCE)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def quantiles(
    metric: str, by: str, qs: tuple[float, ...], window: str = RATE, func: str = "rate"
) -> list[prometheus.Dataquery]:
    grouping = f"le, {by}" if by else "le"
    return [
        query(
            f"histogram_quantile({q}, sum by ({grouping}) ({func}({metric}_bucket[{window}])))",
            f"p{int(q * 100)}" + (f" {{{{{by}}}}}" if by else ""),
            ref=chr(ord("A") + i),
        )
        for i, q in enumerate(qs)
    ]


def operations() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("turnwatch — operations")
        .uid("turnwatch-operations")
        .tags(["turnwatch"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("utc")
        .with_row(dashboard.Row("Throughput"))
        .with_panel(
            series(
                "Turns processed per second, by role",
                query(f"sum by (role) (rate(turnwatch_turns_total[{RATE}]))", "{{role}}"),
                unit="reqps",
            )
        )
        .with_panel(series("Consumer lag (turns waiting)", query("sum(turnwatch_consumer_lag)", "lag")))
        .with_panel(
            series(
                "Dead letters per second, by reason",
                query(f"sum by (reason) (rate(turnwatch_dead_letters_total[{RATE}]))", "{{reason}}"),
                unit="reqps",
            )
        )
        .with_panel(
            stat.Panel()
            .title("Workers up")
            .height(8)
            .span(4)
            .datasource(DATASOURCE)
            .with_target(query(f'sum(up{{job="{WORKER_JOB}"}})', "workers"))
        )
        .with_panel(
            stat.Panel()
            .title("Reviewer console up")
            .height(8)
            .span(4)
            .datasource(DATASOURCE)
            .with_target(query(f'sum(up{{job="{CONSOLE_JOB}"}})', "console"))
        )
        .with_panel(
            stat.Panel()
            .title("Conversations in state")
            .height(8)
            .span(4)
            .datasource(DATASOURCE)
            .with_target(query("sum(turnwatch_active_conversations)", "conversations"))
        )
        .with_row(dashboard.Row("Latency"))
        .with_panel(
            series(
                "Detector latency p50 / p99",
                *quantiles("turnwatch_detector_seconds", "detector", (0.5, 0.99)),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Turn → alert latency", *quantiles("turnwatch_turn_to_alert_seconds", "", (0.5, 0.95, 0.99)), unit="s"
            )
        )
        .with_panel(series("Micro-batch size p50 / p99", *quantiles("turnwatch_batch_size", "", (0.5, 0.99))))
        .with_row(dashboard.Row("Delivery"))
        .with_panel(
            series(
                "Deliveries per second, by sink and outcome",
                query(f"sum by (sink, outcome) (rate(turnwatch_deliveries_total[{RATE}]))", "{{sink}} {{outcome}}"),
                unit="reqps",
            )
        )
        .with_panel(
            series("Delivery latency p99, by sink", *quantiles("turnwatch_delivery_seconds", "sink", (0.99,)), unit="s")
        )
    )


def safety() -> dashboard.Dashboard:
    return (
        dashboard.Dashboard("turnwatch — safety")
        .uid("turnwatch-safety")
        .tags(["turnwatch"])
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("utc")
        .with_panel(
            stat.Panel()
            .title("Crisis alerts in range")
            .height(6)
            .span(6)
            .datasource(DATASOURCE)
            .with_target(query('sum(increase(turnwatch_alerts_total{detector="crisis"}[$__range]))', "crisis"))
        )
        .with_panel(
            stat.Panel()
            .title("Critical alerts in range")
            .height(6)
            .span(6)
            .datasource(DATASOURCE)
            .with_target(query('sum(increase(turnwatch_alerts_total{severity="critical"}[$__range]))', "critical"))
        )
        .with_panel(
            stat.Panel()
            .title("Alerts per 100 turns")
            .height(6)
            .span(6)
            .datasource(DATASOURCE)
            .with_target(
                query(
                    "100 * sum(increase(turnwatch_alerts_total[$__range])) / sum(increase(turnwatch_turns_total[$__range]))",
                    "per 100 turns",
                )
            )
        )
        .with_panel(
            stat.Panel()
            .title("Patient turns in range")
            .height(6)
            .span(6)
            .datasource(DATASOURCE)
            .with_target(query('sum(increase(turnwatch_turns_total{role="patient"}[$__range]))', "patient turns"))
        )
        .with_panel(
            series(
                "Alerts per second, by detector and severity",
                query(
                    f"sum by (detector, severity) (rate(turnwatch_alerts_total[{RATE}]))", "{{detector}} {{severity}}"
                ),
                unit="reqps",
                width=24,
            )
        )
        .with_panel(
            series(
                "Crisis alerts per second, by severity",
                query(f'sum by (severity) (rate(turnwatch_alerts_total{{detector="crisis"}}[{RATE}]))', "{{severity}}"),
                unit="reqps",
            )
        )
        .with_panel(
            heatmap.Panel()
            .title("Distress score distribution (patient turns)")
            .height(8)
            .span(12)
            .datasource(DATASOURCE)
            .with_target(
                query(f"sum by (le) (rate(turnwatch_distress_score_bucket[{RATE}]))", "{{le}}").format("heatmap")
            )
        )
        .with_row(dashboard.Row("Reviewer verdicts (console)"))
        .with_panel(
            bargauge.Panel()
            .title("Precision in production, by rule (true / (true + false positives) in range)")
            .height(10)
            .span(12)
            .unit("percentunit")
            .min(0)
            .max(1)
            .datasource(DATASOURCE)
            .with_target(
                # The console starts every stored rule's series at 0; "> 0" drops the rules nobody
                # judged in range (0 / 0 would be a NaN bar each).
                query(
                    'sum by (rule) (increase(turnwatch_verdicts_total{verdict="true_positive"}[$__range]))'
                    ' / (sum by (rule) (increase(turnwatch_verdicts_total{verdict=~"true_positive|false_positive"}'
                    "[$__range])) > 0)",
                    "{{rule}}",
                ).instant()
            )
        )
        .with_panel(
            series(
                "Verdicts per hour, by verdict",
                query(f"3600 * sum by (verdict) (rate(turnwatch_verdicts_total[{RATE}]))", "{{verdict}}"),
                width=12,
            )
        )
        .with_panel(
            bargauge.Panel()
            .title("Top rules in range")
            .height(10)
            .span(24)
            .datasource(DATASOURCE)
            .with_target(
                query(
                    "topk(10, sum by (rule) (increase(turnwatch_alerts_by_rule_total[$__range])))", "{{rule}}"
                ).instant()
            )
        )
        .with_row(dashboard.Row("On call: acknowledgement, escalation, silences"))
        .with_panel(
            series(
                f"Time to acknowledge p50 / p90, by severity (acknowledgements in the past {REVIEW_WINDOW})",
                *quantiles("turnwatch_time_to_acknowledge_seconds", "severity", (0.5, 0.9), REVIEW_WINDOW, "increase"),
                unit="s",
            )
        )
        .with_panel(
            series(
                f"Time to resolve p50 / p90, by severity (resolutions in the past {REVIEW_WINDOW})",
                *quantiles("turnwatch_time_to_resolve_seconds", "severity", (0.5, 0.9), REVIEW_WINDOW, "increase"),
                unit="s",
            )
        )
        .with_panel(
            stat.Panel()
            .title("Critical alerts unacknowledged after every escalation step")
            .height(8)
            .span(6)
            .datasource(DATASOURCE)
            .with_target(
                query('sum(turnwatch_unacknowledged_alerts{severity="critical", escalation="exhausted"})', "exhausted")
            )
        )
        .with_panel(
            series(
                "Unacknowledged critical alerts, by escalation standing",
                query('sum by (escalation) (turnwatch_unacknowledged_alerts{severity="critical"})', "{{escalation}}"),
                width=18,
            )
        )
        .with_panel(
            series(
                "Escalation steps fired per hour, by step",
                query(f"3600 * sum by (step) (rate(turnwatch_escalations_total[{RATE}]))", "step {{step}}"),
            )
        )
        .with_panel(
            series(
                "Paging updates per hour (acknowledge, resolve), by sink and action",
                query(
                    f"3600 * sum by (sink, action) (rate(turnwatch_paging_updates_total[{RATE}]))",
                    "{{sink}} {{action}}",
                ),
            )
        )
        .with_panel(
            series(
                "Notifications held back per hour (silenced, inhibited), by sink",
                # Outcomes of turnwatch_deliveries_total: one per receiver an alert (or an escalation
                # step) would have reached; the console still lists the alerts.
                query(
                    f"3600 * sum by (sink, outcome) "
                    f'(rate(turnwatch_deliveries_total{{outcome=~"silenced|inhibited"}}[{RATE}]))',
                    "{{sink}} {{outcome}}",
                ),
            )
        )
        .with_panel(
            series(
                "Active silences",
                # Every worker reads every silence: the same count from each, so max, not sum.
                query("max(turnwatch_active_silences)", "silences"),
            )
        )
    )


BOARDS = {"operations.json": operations, "safety.json": safety}


def rendered() -> dict[str, str]:
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {name: encoder.encode(build().build()) + "\n" for name, build in BOARDS.items()}


def queries(board_json: str) -> list[tuple[str, str]]:
    """(panel title, expr) for every target of every panel."""
    out = []
    for panel in json.loads(board_json)["panels"]:
        for target in panel.get("targets", []):
            out.append((panel["title"], target["expr"]))
    return out


def write_dashboards(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rendered().items():
        (directory / name).write_text(text)
        paths.append(directory / name)
    return paths
