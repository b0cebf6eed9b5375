"""The command line for people and pipes: one-line errors, exit codes, stdin, filters."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from streams.cli import main
from streams.errors import ConfigError
from streams.examples import EXAMPLES_DIR
from streams.settings import load_settings, warn_on_misspelt_env
from tests.factories import turn


def refused_address() -> str:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def fails_in_one_line(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"turnwatch {argv[0]}: error: ")
    for needle in needles:
        assert needle in err, err
    return err


def test_a_bad_start_time_is_one_line_naming_the_format(capsys):
    fails_in_one_line(capsys, ["parse", "--start", "yesterday", str(EXAMPLES_DIR)], "'yesterday'", "RFC 3339")
    fails_in_one_line(capsys, ["parse", "--start", "2026-01-01T09:00", str(EXAMPLES_DIR)], "time zone")


def test_an_empty_directory_or_file_is_an_error_not_silence(capsys, tmp_path):
    fails_in_one_line(capsys, ["scan", str(tmp_path)], "no turns in", ".jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    fails_in_one_line(capsys, ["parse", str(tmp_path / "empty.jsonl")], "no turns in")


def test_a_missing_or_unreadable_file_names_it(capsys, tmp_path):
    fails_in_one_line(capsys, ["parse", str(tmp_path / "nope.txt")], "nope.txt", "no such file")
    (tmp_path / "binary.txt").write_bytes(bytes(range(128, 256)))
    fails_in_one_line(capsys, ["parse", str(tmp_path / "binary.txt")], "binary.txt", "not UTF-8")


def test_an_unreachable_broker_is_one_line_and_quick(capsys):
    address = refused_address()
    started = time.monotonic()
    fails_in_one_line(capsys, ["replay", "--broker", address, str(EXAMPLES_DIR)], address, "turnwatch broker")
    assert time.monotonic() - started < 30  # no client retries before the answer


def test_the_worker_waits_for_its_broker_then_gives_up_in_one_line(monkeypatch):
    monkeypatch.setenv("TURNWATCH_BROKER_WAIT_SECONDS", "1")
    # In a child process: the worker configures logging for the whole process.
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker", "--broker", refused_address()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.endswith(
        "(connection refused after waiting 1s); start one (`turnwatch broker`) or pass "
        "--broker HOST:PORT / set TURNWATCH_BROKER\n"
    ), done.stderr
    assert "Traceback" not in done.stderr


def test_the_receiver_names_the_secret_it_needs(capsys, monkeypatch):
    monkeypatch.delenv("TURNWATCH_RECEIVER_SECRET", raising=False)
    monkeypatch.delenv("TURNWATCH_RECEIVER_SECRET_FILE", raising=False)
    fails_in_one_line(capsys, ["receiver"], "TURNWATCH_RECEIVER_SECRET")


def test_debug_shows_the_traceback():
    with pytest.raises(FileNotFoundError):
        main(["--debug", "parse", "/nonexistent/transcript.txt"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("turnwatch ")


def test_parse_reads_a_transcript_from_stdin():
    text = (EXAMPLES_DIR / "04_ordinary_sadness.txt").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "parse", "-"], input=text, capture_output=True, timeout=120, check=True
    )
    events = [json.loads(line) for line in done.stdout.splitlines()]
    from_file = subprocess.run(
        [sys.executable, "-m", "streams.cli", "parse", str(EXAMPLES_DIR / "04_ordinary_sadness.txt")],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert [e["text"] for e in events] == [json.loads(line)["text"] for line in from_file.stdout.splitlines()]
    assert len(events) > 3


def test_a_misspelt_environment_variable_warns_with_the_closest_name():
    warnings = warn_on_misspelt_env({"TURNWATCH_BROKR": "x", "TURNWATCH_PAGER_SECRET": "y", "TURNWATCH_BROKER": "z"})
    assert warnings == ["TURNWATCH_BROKR is not a turnwatch setting and is ignored; did you mean TURNWATCH_BROKER?"]


def test_a_misspelt_yaml_key_suggests_the_closest_key(tmp_path):
    config = tmp_path / "settings.yaml"
    config.write_text("web_prot: 8080\n")
    with pytest.raises(ConfigError, match=r"web_prot\): not a setting; did you mean 'web_port'\?"):
        load_settings(config)


def test_scan_filters_by_severity_renders_a_table_and_fails_on_a_page(tmp_path):
    crisis = EXAMPLES_DIR / "01_escalating_distress_crisis.txt"
    command = [sys.executable, "-m", "streams.cli", "scan", str(crisis)]
    every = subprocess.run(command, capture_output=True, timeout=300)
    assert every.returncode == 0
    severities = {json.loads(line)["severity"] for line in every.stdout.splitlines()}
    assert {"critical", "high"} <= severities
    critical = subprocess.run(
        [*command, "--min-severity", "critical", "--fail-on", "critical"], capture_output=True, timeout=300
    )
    assert critical.returncode == 1
    assert {json.loads(line)["severity"] for line in critical.stdout.splitlines()} == {"critical"}
    table = subprocess.run(
        [*command, "--format", "table", "--fail-on", "critical", "--min-severity", "high"],
        capture_output=True,
        timeout=300,
    )
    lines = table.stdout.decode().splitlines()
    assert table.returncode == 1
    assert any(line.startswith("CRITICAL ") for line in lines) and any(line.startswith("HIGH ") for line in lines)
    assert not any(line.startswith(("INFO ", "WARNING ")) for line in lines)
    quiet = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "scan",
            str(EXAMPLES_DIR / "04_ordinary_sadness.txt"),
            "--fail-on",
            "high",
        ],
        capture_output=True,
        timeout=300,
    )
    assert quiet.returncode == 0


def test_scan_dead_letters_name_file_and_line(tmp_path):
    events = tmp_path / "events.jsonl"
    good = turn(0, text="hello", conversation="a", ts="2026-01-01T00:00:00Z")
    events.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "role": "nurse"}) + "\n")
    done = subprocess.run([sys.executable, "-m", "streams.cli", "scan", str(events)], capture_output=True, timeout=300)
    err = done.stderr.decode()
    assert f"dead letter: {events}:2: invalid_json" in err
    assert f"dead letter: {events}:3: schema: role" in err


def test_parse_as_a_table_shows_each_turn_and_marks_what_is_not_a_turn(tmp_path):
    events = tmp_path / "events.jsonl"
    event = turn(0, text="hello there", conversation="conv-a", event_id="a:0", ts="2026-01-01T00:00:00Z")
    events.write_text(json.dumps(event) + "\n{broken\n")
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "parse", "--format", "table", str(events)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "conv-a" in done.stdout and "hello there" in done.stdout and "patient" in done.stdout
    assert f"{events}:2" in done.stdout and "(not a turn event)" in done.stdout
