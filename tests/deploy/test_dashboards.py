"""The Grafana dashboards: generated from code, schema-checked, every query parses."""

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from streams.tooling.dashboards import queries, rendered
from tests.deploy.test_ops_alerting import tool

BOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"

PANEL_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "gridPos", "datasource", "targets"],
    "properties": {
        "type": {"enum": ["timeseries", "stat", "heatmap", "bargauge", "row"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": {
            "type": "object",
            "required": ["h", "w"],
            "properties": {
                "h": {"type": "integer", "minimum": 1},
                "w": {"type": "integer", "minimum": 1, "maximum": 24},
            },
        },
        "datasource": {"type": "object", "required": ["type", "uid"], "properties": {"uid": {"const": "prometheus"}}},
        "targets": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["expr", "refId"],
                "properties": {"expr": {"type": "string", "minLength": 1}, "refId": {"type": "string"}},
            },
        },
    },
}
DASHBOARD_SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "panels", "schemaVersion", "time", "refresh"],
    "properties": {
        "uid": {"type": "string", "pattern": "^turnwatch-"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "panels": {
            "type": "array",
            "minItems": 5,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}},
                "then": {"required": ["type", "title"]},
                "else": PANEL_SCHEMA,
            },
        },
    },
}


@pytest.mark.parametrize("name", sorted(rendered()))
def test_committed_dashboards_match_the_code(name):
    assert (BOARDS / name).read_text() == rendered()[name], f"{name} drifted: run `make schemas`"


@pytest.mark.parametrize("name", sorted(rendered()))
def test_dashboards_pass_the_schema_check(name):
    board = json.loads((BOARDS / name).read_text())
    jsonschema.validate(board, DASHBOARD_SCHEMA)
    refs = [(p["title"], t["refId"]) for p in board["panels"] for t in p.get("targets", [])]
    assert len(refs) == len(set(refs)), "refIds are unique within a panel"


def grafana_to_prometheus(expr: str, rate: str = "30s", window: str = "5m") -> str:
    return expr.replace("$__rate_interval", rate).replace("$__range", window)


def test_every_query_parses_with_promtool(tmp_path):
    exprs = [grafana_to_prometheus(e) for text in rendered().values() for _, e in queries(text)]
    rules = {
        "groups": [
            {
                "name": "dashboard-queries",
                "rules": [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "queries.yml"
    path.write_text(json.dumps(rules))
    done = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(exprs)} rules found" in done.stdout
