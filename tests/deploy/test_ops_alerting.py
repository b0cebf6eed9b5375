"""The operational alert rules and the Alertmanager example, checked by Prometheus' own tools."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (.ci/run installs Debian prometheus / prometheus-alertmanager)")
        pytest.skip(f"{name} not installed")
    return path


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_parse():
    done = run(tool("promtool"), "check", "rules", "rules.yml", cwd=DEPLOY / "prometheus")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 rules found" in done.stdout


def test_rule_unit_tests_pass():
    done = run(tool("promtool"), "test", "rules", "rules.test.yml", cwd=DEPLOY / "prometheus")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alertmanager_config_is_valid():
    done = run(tool("amtool"), "check-config", "alertmanager.yml", cwd=DEPLOY / "alertmanager")
    assert done.returncode == 0, done.stdout + done.stderr
