"""The wheel, installed outside the checkout, runs its commands from another directory.

The wheel goes into a fresh virtualenv with ``--no-deps``; its dependencies come from the test
run's own environment through a plain path line in a ``.pth`` file. A path line does not run
that environment's own ``.pth`` hooks, so the editable install of this checkout stays out of
sight and every ``streams``/``detectors`` import resolves to the installed wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: an in-tree build leaves build/ behind, whose stale files a later
    # build would package again.
    source = tmp_path_factory.mktemp("source") / "turnwatch"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".turnwatch", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "bench"
        ),
    )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        timeout=600,
    )
    (built,) = out.glob("turnwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "turnwatch-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        check=True,
        timeout=600,
    )
    return env_dir / "bin"


def run(bin_dir: Path, *args: str, cwd: Path, timeout: float = 300, stdin: bytes | None = None):
    env = {
        **os.environ,
        "TURNWATCH_DATA_DIR": str(cwd / ".turnwatch"),
        "TURNWATCH_MODEL_CACHE_DIR": str(ROOT / ".turnwatch" / "models"),
    }
    env.pop("TURNWATCH_CONFIG", None)
    return subprocess.run(
        [str(bin_dir / "turnwatch"), *args], cwd=cwd, env=env, capture_output=True, timeout=timeout, input=stdin
    )


def installed_python(bin_dir: Path, code: str, cwd: Path) -> str:
    """What ``code`` prints when run by the wheel's virtualenv from ``cwd``."""
    done = subprocess.run([str(bin_dir / "python"), "-c", code], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def shipped_examples(bin_dir: Path, cwd: Path) -> Path:
    return Path(installed_python(bin_dir, "from streams.examples import EXAMPLES_DIR; print(EXAMPLES_DIR)", cwd))


def test_the_wheel_carries_the_examples_labels_heads_and_type_marker(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("streams/examples/transcripts/") for n in names)
    assert "streams/examples/labelled/expected.jsonl" in names
    assert any(n.startswith("detectors/heads/") for n in names)
    assert {"streams/py.typed", "detectors/py.typed"} <= set(names)
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_installed_commands_resolve_to_the_wheel_not_the_checkout(installed: Path, tmp_path: Path):
    where = installed_python(installed, "import streams; print(streams.__file__)", tmp_path)
    assert str(ROOT) not in where
    version = run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.decode().startswith("turnwatch ")


def test_scan_from_another_directory_uses_the_shipped_examples(installed: Path, tmp_path: Path):
    from streams.examples import EXAMPLES_DIR  # the checkout's copy names a file to scan

    shipped = shipped_examples(installed, tmp_path)
    assert str(ROOT) not in str(shipped)
    name = "01_escalating_distress_crisis.txt"
    done = run(installed, "scan", str(shipped / name), "--fail-on", "critical", cwd=tmp_path)
    alerts = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert done.returncode == 1, done.stderr.decode()[-2000:]  # the crisis pages critical
    assert any(a["severity"] == "critical" and a["detector"] == "crisis" for a in alerts)
    piped = run(installed, "scan", "-", cwd=tmp_path, stdin=(EXAMPLES_DIR / name).read_bytes())
    assert piped.returncode == 0
    assert {a["rule"] for a in map(json.loads, piped.stdout.decode().splitlines())} == {a["rule"] for a in alerts}


def test_eval_from_another_directory_scores_the_shipped_labels(installed: Path, tmp_path: Path):
    examples = shipped_examples(installed, tmp_path)
    done = run(installed, "eval", "--out", str(tmp_path / "eval"), str(examples), cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert len(report["conversations"]) >= 10


def test_demo_from_another_directory_replays_the_shipped_examples(installed: Path, tmp_path: Path):
    done = run(installed, "demo", "--duration", "20", "--speed", "0", cwd=tmp_path, timeout=400)
    output = done.stdout.decode()
    assert done.returncode == 0, (output + done.stderr.decode())[-3000:]
    sent = int(output.split("turns sent: ")[1].split(",")[0])
    assert sent > 100
    assert "CRITICAL" in output  # the live feed showed the example crisis
