"""Grafana dashboards as code (grafana-foundation-sdk): ``turnwatch dashboards --out DIR``.

Two boards: *operations* (is the pipeline healthy and fast?) and *safety* (what are the
detectors finding?). Every query uses Grafana's ``$__rate_interval`` / ``$__range``; the
dashboard test substitutes them and runs each query on a real Prometheus scraping a worker.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, dashboard, heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)


def series(title: str, *queries: prometheus.Dataquery, unit: str = "short", width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).height(8).span(width).datasource(DATASOURCE)
    for q in queries:
        panel = panel.with_target(q)
    return panel


def quantiles(metric: str, by: str, qs: tuple[float, ...]) -> list[prometheus.Dataquery]:
    grouping = f"le, {by}" if by else "le"
    return [
        query(
            f"histogram_quantile({q}, sum by ({grouping}) (rate({metric}_bucket[{RATE}])))",
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
            .span(6)
            .datasource(DATASOURCE)
            .with_target(query('sum(up{job="turnwatch"})', "workers"))
        )
        .with_panel(
            stat.Panel()
            .title("Conversations in state")
            .height(8)
            .span(6)
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
                query(
                    'sum by (rule) (increase(turnwatch_verdicts_total{verdict="true_positive"}[$__range]))'
                    ' / sum by (rule) (increase(turnwatch_verdicts_total{verdict=~"true_positive|false_positive"}'
                    "[$__range]))",
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
