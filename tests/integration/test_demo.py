"""`turnwatch demo` from the command line: broker, worker, replay, live alerts, clean exit."""

import os
import re
import subprocess
import sys

import pytest

from streams.runtime.broker import free_port

pytestmark = pytest.mark.integration


def test_demo_shows_alerts_and_exits_cleanly(tmp_path):
    env = {**os.environ, "TURNWATCH_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "demo",
            "--duration",
            "30",
            "--speed",
            "0",
            "--web-port",
            str(free_port()),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "therapist.malformed" in done.stdout
    sent, processed = map(int, re.search(r"turns sent: (\d+), processed by the worker: (\d+)", done.stdout).groups())
    # The shipped JSONL example holds one duplicate and two invalid events on purpose.
    assert processed == sent - 3
