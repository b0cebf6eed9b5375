"""(d) and (e) of ``make bench``: what the monitor's state costs once stored (bytes written per
turn, bytes per conversation, a worker's RSS holding 10k conversations) and how long a worker
holding them takes to be ready again, per table store and way of stopping."""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

from streams.kafka.broker import free_port
from streams.kafka.processes import stop_process
from streams.testing.workers import metric_lines, spawn_worker, wait_ready
from streams.tooling.bench import HELD_CONVERSATIONS, Log, Results, _wait_for_metric, rss_bytes
from streams.tooling.bench_state import Changelogs, conversation_bytes, copy_conversations


def measure_held_conversations(
    results: Results, bootstrap: str, env: dict[str, str], workdir: Path, log: Log, count: int = HELD_CONVERSATIONS
) -> None:
    """(d) state bytes as the worker stored them, and the RSS of a worker holding ``count`` conversations.

    The conversations the worker wrote to its tables' changelogs during (b) and (c) are copied
    under new ids until the changelogs hold ``count`` conversations; a fresh worker then recovers
    them all into its tables, and its RSS is read once its table holds them. Feeding 10k conversations
    through the encoder instead would take over an hour on this machine.
    """
    app_id = env["TURNWATCH_APP_ID"]
    changelogs = Changelogs.read(bootstrap, app_id)
    results.changelog_bytes_per_turn = changelogs.bytes_per_turn()
    log(f"(d) changelog bytes per processed turn: {results.changelog_bytes_per_turn}")
    stored = changelogs.stored_conversations()
    sizes = [conversation_bytes(conversation) for conversation in stored.values()]
    results.state_bytes_per_conversation = statistics.fmean(sizes)
    results.state_bytes_max = max(sizes)
    copy_conversations(bootstrap, app_id, list(stored.values()), count - len(stored))
    port = free_port()
    worker = spawn_worker(
        bootstrap, port, workdir / "worker-held.log", extra_env={**env, "TURNWATCH_DATA_DIR": str(workdir)}
    )
    try:
        wait_ready(port, timeout=300, process=worker)
        _wait_for_metric(port, "turnwatch_active_conversations", count, worker, timeout=300)
        results.rss_10k_conversations_mb = rss_bytes(worker.pid) / 2**20
    finally:
        stop_process(worker)
    log(
        f"(d) state: mean {results.state_bytes_per_conversation / 1024:.1f} KB, max {results.state_bytes_max / 1024:.1f} KB"
        f" ({len(stored)} conversations); worker RSS holding {count} conversations {results.rss_10k_conversations_mb:.0f} MB"
    )


def startup_phases(port: int) -> dict[str, float]:
    """The worker's own account of its start (``turnwatch_startup_seconds{phase}``)."""
    phases = {}
    for line in metric_lines(port):
        if line.startswith("turnwatch_startup_seconds{"):
            phases[line.split('phase="')[1].split('"')[0]] = round(float(line.rsplit(" ", 1)[1]), 2)
    return phases


def _time_to_ready(
    bootstrap: str, env: dict[str, str], log_path: Path, count: int, kill: bool
) -> tuple[float, dict[str, float]]:
    """Seconds from starting a worker to ready with ``count`` conversations in its table, and the
    worker's split of them; then SIGKILL it (``kill``) or stop it gracefully."""
    port = free_port()
    started = time.monotonic()
    worker = spawn_worker(bootstrap, port, log_path, extra_env=env)
    try:
        wait_ready(port, timeout=600, process=worker, poll=0.05)
        _wait_for_metric(port, "turnwatch_active_conversations", count, worker, timeout=600, poll=0.05)
        elapsed = round(time.monotonic() - started, 1)
        return elapsed, startup_phases(port)
    finally:
        if kill:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        else:
            stop_process(worker, timeout=60)


def measure_restarts(
    results: Results, bootstrap: str, env: dict[str, str], workdir: Path, log: Log, count: int = HELD_CONVERSATIONS
) -> None:
    """(e) restart-to-ready holding ``count`` conversations (the changelog (d) filled), for each
    table store: a first start on an empty data dir, a restart after a graceful stop, and one
    after a SIGKILL. Memory rebuilds the whole table every time; RocksDB keeps its files."""
    for store in ("memory", "rocksdb"):
        store_env = {**env, "TURNWATCH_TABLE_STORE": store, "TURNWATCH_DATA_DIR": str(workdir / f"restart-{store}")}
        times, splits = {}, {}
        for step, kill in (("first start", False), ("after a graceful stop", True), ("after SIGKILL", False)):
            times[step], splits[step] = _time_to_ready(
                bootstrap, store_env, workdir / f"restart-{store}.log", count, kill
            )
        results.restart_to_ready_s[store] = times
        results.restart_split_s[store] = splits
        log(
            f"(e) restart-to-ready with {count} conversations, {store}: "
            + ", ".join(f"{k} {v} s" for k, v in times.items())
            + f"; split after SIGKILL {splits['after SIGKILL']}"
        )
