"""Shared fixtures: the seed transcripts in ../shared (required under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEEDS = {
    "000_84769077cb1426a9.txt": {"patient": 26, "therapist": 25},
    "002_3e25300b322c7160.txt": {"patient": 26, "therapist": 25},
    "004_d02cb9338fda1a3f.txt": {"patient": 20, "therapist": 20},
}


def shared_folder(name: str) -> Path:
    """../shared/<name>; skipped when absent, a failure under CI=true."""
    path = SHARED / name
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI runs with ../shared beside the checkout")
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="session")
def shared_transcripts() -> Path:
    return shared_folder("transcripts")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """counsel-chat and SDCNL."""
    return shared_folder("data")


@pytest.fixture(scope="session")
def seed_paths(shared_transcripts: Path) -> list[Path]:
    paths = [shared_transcripts / name for name in SEEDS]
    missing = [p for p in paths if not p.is_file()]
    assert not missing, f"seed transcripts missing: {missing}"
    return paths


@pytest.fixture(scope="session")
def full_pipeline():
    """The worker's pipeline: every detector, the real encoder and emotion head."""
    from streams.monitor.build import build_pipeline
    from streams.settings import Settings

    return build_pipeline(Settings())


@pytest.fixture(scope="session")
def scan_alerts(full_pipeline):
    """alerts(path) → the alerts `turnwatch scan` prints for one transcript."""
    from streams.ingest import read_records
    from streams.tooling.scan import scan_records

    cache = {}

    def alerts(path):
        if path not in cache:
            cache[path] = [a for r in scan_records(read_records([path]), full_pipeline) for a in r.alerts]
        return cache[path]

    return alerts
