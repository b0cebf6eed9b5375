"""`turnwatch demo` from the command line: broker, worker, replay, live alerts, clean exit."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from streams.kafka.broker import free_port

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


def children_of(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (read from /proc; the demo's children run in their own sessions)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as status:
                fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid and fields.get("State", "").strip()[:1] != "Z":
            found.add(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line for line in status)
    except OSError:
        return False


def test_sigterm_stops_the_demo_with_its_broker_and_worker(tmp_path):
    env = {**os.environ, "TURNWATCH_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    port = free_port()
    command = [sys.executable, "-m", "streams.cli", "demo", "--duration", "0", "--web-port", str(port)]
    demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if "worker ready" in line:
                break
        else:
            logs = "".join(f"\n--- {log.name}:\n{log.read_text()[-3000:]}" for log in (tmp_path / "demo").glob("*.log"))
            pytest.fail(f"the demo ended before its worker was ready (exit {demo.wait()}):\n{''.join(seen)}{logs}")
        # The demo sets no api_token: its HTTP ingest is off rather than open to anyone.
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/turns", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 503 and "TURNWATCH_API_TOKEN" in refused.value.read().decode()
        children = children_of(demo.pid)
        assert len(children) >= 2, children  # the embedded broker and the worker
        demo.send_signal(signal.SIGTERM)
        rest = demo.communicate(timeout=120)[0]
        assert demo.returncode == 0, rest
        assert "turns sent:" in rest
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in children if alive(pid)]
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
