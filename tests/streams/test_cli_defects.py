"""Command-line defects new users met, each run as they ran it: ``python -m streams.cli ...`` in a child process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.examples import EXAMPLES_DIR, example_paths
from streams.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SADNESS = "04_ordinary_sadness"
CRISIS = "01_escalating_distress_crisis"


def clean_env(**changes: str) -> dict[str, str]:
    """The environment without TURNWATCH_* settings or a terminal width, plus ``changes``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TURNWATCH_") and k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env | changes


def turnwatch(*argv: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env or clean_env(),
    )


def one_error_line(done: subprocess.CompletedProcess, command: str, *needles: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(f"turnwatch {command}: error: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr
    return done.stderr


def bad_settings(tmp_path: Path) -> Path:
    config = tmp_path / "bad.yaml"
    config.write_text("batch_max: 0\nweb_port: not-a-port\npartitions: 0\nweb_prot: 1\n")
    return config


# 1. --config after the command


def test_config_is_taken_after_the_command_and_before_it(tmp_path):
    config = bad_settings(tmp_path)
    after = turnwatch("scan", "--config", str(config), str(EXAMPLES_DIR / f"{SADNESS}.txt"))
    one_error_line(after, "scan", f"{config} (batch_max)")
    # A --config before the command is not clobbered by the command's own (absent) one.
    before = turnwatch("--config", str(config), "scan", str(EXAMPLES_DIR / f"{SADNESS}.txt"))
    one_error_line(before, "scan", f"{config} (batch_max)")
    # Nested commands take it too, and the one after the command wins.
    good = tmp_path / "good.yaml"
    good.write_text(f"console_db_url: sqlite:///{tmp_path / 'nowhere.db'}\n")
    nested = turnwatch("--config", str(config), "verdicts", "export", "--config", str(good))
    one_error_line(nested, "verdicts", str(tmp_path / "nowhere.db"))


# 2. a closed pipe


@pytest.mark.parametrize("format", ["jsonl", "table"])
def test_scan_into_a_pipe_closed_early_ends_quietly(format):
    # The shipped examples six times over: far more output than a pipe holds, so writes go on after `head -1`.
    command = [sys.executable, "-m", "streams.cli", "scan", "--format", format, *[str(EXAMPLES_DIR)] * 6]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), text=True
    ) as process:
        first = process.stdout.readline()
        process.stdout.close()  # what `| head -1` does after its line
        err = process.stderr.read()
        code = process.wait(timeout=300)
    assert first.strip()
    assert code == 141, (code, err)  # 128 + SIGPIPE, as a shell reports for `yes | head -1`
    assert "Traceback" not in err and "error" not in err.lower() and "Broken pipe" not in err, err


# 3. verdicts export and its store


def test_verdicts_export_refuses_a_missing_store_and_creates_none(tmp_path):
    done = turnwatch("verdicts", "export", cwd=tmp_path)
    one_error_line(done, "verdicts", f"no console store at {tmp_path.resolve() / '.turnwatch' / 'console.db'}")
    assert not (tmp_path / ".turnwatch").exists()
    missing = turnwatch("verdicts", "export", "--db", "elsewhere.db", cwd=tmp_path)
    one_error_line(missing, "verdicts", str(tmp_path.resolve() / "elsewhere.db"), "--db")
    assert not (tmp_path / "elsewhere.db").exists()


def test_verdicts_export_takes_a_plain_file_path(tmp_path):
    from streams.console.store import AlertStore
    from streams.contracts import Alert
    from tests.factories import ALERT_FIELDS

    store = AlertStore.open(f"sqlite:///{tmp_path / 'console.db'}")
    store.save_alert(Alert.model_validate(ALERT_FIELDS))
    store.record_action(ALERT_FIELDS["alert_id"], "verdict", "rita", "reviewer", verdict="true_positive")
    store.close()
    done = turnwatch("verdicts", "export", "--db", "console.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert json.loads(line)["alert"]["alert_id"] == ALERT_FIELDS["alert_id"]
    assert "1 judged alerts written" in done.stderr


# 4. check-config counts what it lists


def test_check_config_counts_each_problem_it_lists(tmp_path):
    done = turnwatch("--config", str(bad_settings(tmp_path)), "check-config")
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert done.returncode == 1
    assert len(errors) == 4, done.stderr
    assert done.stderr.splitlines()[-1] == "4 problem(s)"
    delivery = tmp_path / "delivery.yaml"
    delivery.write_text(
        "receivers:\n"
        "  - {name: hook, kind: webhook, url: 'http://127.0.0.1:1/h', secret: {env: TW_DEFECT_UNSET_A}}\n"
        "  - {name: pager, kind: pagerduty, routing_key: {env: TW_DEFECT_UNSET_B}}\n"
        "routes:\n"
        "  - match: {detectors: [crisiss]}\n"
        "    receivers: [pager, hook]\n"
    )
    done = turnwatch("check-config", "--delivery", str(delivery))
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and done.stderr.splitlines()[-1] == "3 problem(s)", done.stderr
    assert all(line.startswith(f"error: delivery config {delivery}: ") for line in errors)
    for name in ("crisiss", "TW_DEFECT_UNSET_A", "TW_DEFECT_UNSET_B"):
        assert sum(name in line for line in errors) == 1, (name, errors)


# 5. where a missing settings file was named


def test_a_missing_config_file_is_named_as_it_was_given(tmp_path):
    flag = turnwatch("--config", "nope.yaml", "scan", str(EXAMPLES_DIR), cwd=tmp_path)
    err = one_error_line(flag, "scan", "--config nope.yaml", "no such file")
    assert "TURNWATCH_CONFIG" not in err
    env = turnwatch("scan", str(EXAMPLES_DIR), cwd=tmp_path, env=clean_env(TURNWATCH_CONFIG="nope.yaml"))
    one_error_line(env, "scan", "TURNWATCH_CONFIG=nope.yaml", "no such file")


# 6. a misspelt detector option


def test_a_misspelt_detector_option_names_the_file_and_key_and_suggests_one(tmp_path):
    config = tmp_path / "tw.yaml"
    config.write_text("detector_options:\n  loop:\n    patient_runs: 3\n")
    done = turnwatch("--config", str(config), "scan", str(EXAMPLES_DIR / f"{SADNESS}.txt"))
    one_error_line(
        done,
        "scan",
        f"{config} (detector_options.loop): unknown loop option(s): patient_runs; did you mean 'patient_run'?",
        "cycle_run",  # and what it does take
    )
    checked = turnwatch("--config", str(config), "check-config")
    assert checked.returncode == 1 and f"{config} (detector_options.loop)" in checked.stderr, checked.stderr
    options = json.dumps({"crisis": {"conversaton": False}, "loop": {"cycle_runs": 3}})
    env = turnwatch("check-config", env=clean_env(TURNWATCH_DETECTOR_OPTIONS=options))
    assert "TURNWATCH_DETECTOR_OPTIONS (detector_options.crisis)" in env.stderr, env.stderr
    assert "did you mean 'conversation'?" in env.stderr and "did you mean 'cycle_run'?" in env.stderr
    assert env.stderr.splitlines()[-1] == "2 problem(s)"


# 7. routes test: no secrets, the detector from the rule


def test_routes_test_needs_no_secrets_and_infers_the_detector(tmp_path):
    delivery = tmp_path / "delivery.yaml"
    delivery.write_text(
        "receivers:\n"
        "  - {name: hook, kind: webhook, url: 'http://127.0.0.1:1/h', secret: {env: TW_DEFECT_UNSET_A}}\n"
        "  - {name: pager, kind: pagerduty, routing_key: {file: /nonexistent/pd-key}}\n"
        "routes:\n"
        "  - match: {detectors: [crisis], min_severity: critical}\n"
        "    receivers: [pager, hook]\n"
    )
    reached = ["routes[0] matches", "  -> pager (pagerduty)", "  -> hook (webhook)"]
    test = ("routes", "test", "--rule", "crisis.method", "--severity", "critical", "--delivery", str(delivery))
    named = turnwatch(*test, "--detector", "crisis")  # neither secret is set or readable here
    assert named.returncode == 0, named.stderr
    assert named.stdout.splitlines() == reached
    inferred = turnwatch(*test)
    assert inferred.returncode == 0, inferred.stderr
    assert inferred.stdout.splitlines() == reached
    wrong = turnwatch(
        *("routes", "test", "--detector", "loop", "--rule", "crisis.method"),
        *("--severity", "critical", "--delivery", str(delivery)),
    )
    one_error_line(wrong, "routes", "belongs to detector 'crisis'")


# 8. the console and a dead broker


def test_the_console_probes_its_broker_once_and_fails_in_one_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once released
    done = turnwatch("console", "--broker", address)
    err = one_error_line(done, "console", f"cannot reach a Kafka broker at {address}", "connection refused")
    assert "after waiting" not in err  # no wait-and-retry, that is the worker's (broker_wait_seconds)


# 9. shipped examples


def test_examples_lists_the_shipped_transcripts_and_commands_take_them_by_name():
    done = turnwatch("examples")
    assert done.returncode == 0, done.stderr
    listed = [line.split(maxsplit=1) for line in done.stdout.splitlines()]
    assert [(name, Path(path)) for name, path in listed] == [(p.stem, p) for p in example_paths()]
    assert all(Path(path).is_absolute() and Path(path).is_file() for _, path in listed)
    by_name = turnwatch("parse", "--example", SADNESS)
    by_path = turnwatch("parse", str(EXAMPLES_DIR / f"{SADNESS}.txt"))
    assert by_name.returncode == 0 and by_name.stdout == by_path.stdout and by_name.stdout
    one_error_line(turnwatch("scan", "--example", "ordinary_sadnes"), "scan", "did you mean '04_ordinary_sadness'")
    one_error_line(turnwatch("scan"), "scan", "--example NAME")


# 10. the model export's home


def test_the_model_cache_defaults_to_the_user_cache_directory(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("TURNWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_settings().model_cache_dir == tmp_path / "xdg" / "turnwatch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings().model_cache_dir == tmp_path / "home" / ".cache" / "turnwatch"
    monkeypatch.setenv("TURNWATCH_MODEL_CACHE_DIR", str(tmp_path / "mine"))
    assert load_settings().model_cache_dir == tmp_path / "mine"


def test_scan_leaves_no_model_export_in_the_folder_it_runs_in(tmp_path):
    done = turnwatch("scan", "--example", SADNESS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / ".turnwatch").exists()


# 11. piped output is not wrapped


def test_piped_tables_are_not_wrapped_at_80_columns(tmp_path):
    long_turn = "I keep going over the same worries every night " * 6
    transcript = tmp_path / "long.txt"
    transcript.write_text(f"Patient: {long_turn.strip()}\nTherapist: That sounds exhausting.\n")
    parsed = turnwatch("parse", "--format", "table", str(transcript))
    assert parsed.returncode == 0, parsed.stderr
    assert any(long_turn.strip() in line for line in parsed.stdout.splitlines()), parsed.stdout
    scanned = turnwatch("scan", "--format", "table", str(EXAMPLES_DIR / f"{CRISIS}.txt"))
    assert scanned.returncode == 0, scanned.stderr
    lines = scanned.stdout.splitlines()
    headlines = [line for line in lines if line.startswith(("CRITICAL ", "HIGH ", "WARNING ", "INFO "))]
    assert headlines and all(line.startswith(("CRITICAL ", "HIGH ", "WARNING ", "INFO ", "  ")) for line in lines)
    assert max(len(line) for line in lines) > 80


def test_piped_summaries_on_standard_error_are_not_wrapped_either(tmp_path):
    good = {"event_id": "a:0", "conversation_id": "a", "turn_index": 0, "role": "patient", "text": "hello"}
    good["ts"] = "2026-01-01T00:00:00Z"
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([json.dumps(good), json.dumps(good), "{not json", json.dumps({**good, "role": "x"})]))
    done = turnwatch("scan", str(events))
    summary = done.stderr.splitlines()[-1]
    assert len(summary) > 80 and summary.startswith("dead letter") and summary.endswith("turns: 1"), done.stderr


# 12. a file with no readable turn is an error, not a clean scan


def test_scanning_a_file_whose_every_record_is_dead_lettered_exits_2(tmp_path):
    events = tmp_path / "broken.jsonl"
    events.write_text("not json\n" * 15)
    done = turnwatch("scan", "--fail-on", "high", str(events))
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]  # after each dead letter's reason and the summary
    assert last.startswith(f"turnwatch scan: error: no valid turn event in {events}"), done.stderr
    assert "Traceback" not in done.stderr


# 13. the table shows the quote of the turn that raised the alert


def test_the_alert_table_shows_the_raising_turns_quote_first():
    import io

    from rich.console import Console

    from streams.tooling.alert_render import print_alert

    out = io.StringIO()
    alert = {
        "severity": "critical",
        "rule": "crisis.intent_or_plan",
        "conversation_id": "c",
        "turns": [8, 10],
        "summary": "Patient turn 10: intent or plan to act.",
        "evidence": [
            {"turn_index": 8, "role": "patient", "quote": "earlier one"},
            {"turn_index": 8, "role": "patient", "quote": "earlier two"},
            {"turn_index": 10, "role": "patient", "quote": "the deciding sentence"},
        ],
    }
    print_alert(Console(file=out, width=200), alert)
    quotes = [line for line in out.getvalue().splitlines() if "↳" in line]
    assert len(quotes) == 2 and "turn 10" in quotes[0] and "the deciding sentence" in quotes[0]


# 14. --broker after the silence subcommand, as its own error message says to pass it


@pytest.mark.parametrize(
    "argv", [("silence", "list", "--broker", "127.0.0.1:1"), ("silence", "--broker", "127.0.0.1:1", "list")]
)
def test_silence_takes_broker_before_or_after_its_subcommand(argv):
    one_error_line(turnwatch(*argv), "silence", "cannot reach a Kafka broker at 127.0.0.1:1")


# 15. the shipped labelled sessions are found without a repository path


def test_eval_sessions_without_a_path_reads_the_shipped_sessions(tmp_path):
    done = turnwatch("eval", "--sessions", "--out", str(tmp_path / "eval"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "eval" / "sessions.json").read_text())
    assert report and json.loads(done.stdout) == report
