"""``turnwatch bench``: throughput, latency and memory, measured side by side in one run.

(a) the bare encoder, batch 1 and batched, on the turns (b) replays; (b) the whole pipeline
through the embedded broker and one worker with every detector, and its ratio to (a);
(c) turn→alert latency at a fixed offered load (half of (b) by default), from at least
MIN_LATENCY_SAMPLES alerts; (d) state bytes per
conversation and the resident memory of a worker holding 10k conversations in its table.
Synthetic conversations: 20–60 turns of 20–150 words.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from streams.ingest.files import Record
from streams.ingest.replay import replay
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.kafka.processes import stop_process
from streams.kafka.topics import ensure_topics
from streams.testing.workers import metric_lines, metric_total, spawn_worker, wait_ready
from streams.tooling.bench_state import Changelogs, percentile
from streams.tooling.crashtest import round_robin
from streams.tooling.synthetic import conversations

Log = Callable[[str], None]
PLACEHOLDER = "[Answer not properly formatted or missing]"
HELD_CONVERSATIONS = 10_000
MIN_LATENCY_SAMPLES = 500  # a p99 from tens of samples is noise
LATENCY_TURNS_PER_CONVERSATION = 8  # the placeholder answer is turn 5
BURST_SECONDS = 30.0
BURST_SEED = 31
BURST_TOPIC = "turnwatch.turns.burst"


def encoder_throughput(encoder, texts: list[str], call_size: int = 64) -> float:
    """Turns per second of the bare encoder (model loaded, warmed up), ``call_size`` texts a call."""
    started = time.perf_counter()
    for start in range(0, len(texts), call_size):
        encoder.encode(texts[start : start + call_size])
    return len(texts) / (time.perf_counter() - started)


class EncoderRounds:
    """Bare-encoder throughput at batch 1 and batched, on the turns (b) replays.

    Measured in rounds before and after (b), on the same machine state (broker and worker up
    and idle), and averaged: this shared machine drifts by ±10 % within minutes, and a ratio
    of two measurements taken far apart mostly measures the drift.
    """

    def __init__(self, backend: str, texts: list[str], cache_dir: Path) -> None:
        from detectors.encoder import Encoder

        self.texts = texts
        self.encoders = {size: Encoder(backend=backend, batch_size=size, cache_dir=cache_dir) for size in (1, 8)}
        for encoder in self.encoders.values():
            encoder.encode(texts[:16])
        self.rounds: dict[int, list[float]] = {size: [] for size in self.encoders}

    def measure(self) -> None:
        for size, encoder in self.encoders.items():
            self.rounds[size].append(encoder_throughput(encoder, self.texts))

    def mean(self, size: int) -> float:
        return statistics.fmean(self.rounds[size])


def rss_bytes(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Results:
    backend: str
    machine: str
    encoder_batch1_tps: float = 0.0
    encoder_batched_tps: float = 0.0
    encoder_rounds: dict[str, list[float]] = field(default_factory=dict)
    pipeline_tps: float = 0.0
    pipeline_turns: int = 0
    pipeline_to_encoder_ratio: float = 0.0
    offered_tps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    worker_latency_ms: dict[str, float] = field(default_factory=dict)
    latency_samples: int = 0
    state_bytes_per_conversation: float = 0.0
    state_bytes_max: int = 0
    changelog_bytes_per_turn: dict[str, float] = field(default_factory=dict)  # mean, p99, records, turns
    changelog_bytes_per_turn_interleaved: dict[str, float] = field(default_factory=dict)  # the burst's
    rss_10k_conversations_mb: float = 0.0
    restart_to_ready_s: dict[str, dict[str, float]] = field(default_factory=dict)
    restart_split_s: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # store → step → phase
    worker_rss_mb: float = 0.0
    latency_at_80_percent: dict[str, Any] = field(
        default_factory=dict
    )  # offered_tps, latency_ms, worker_latency_ms, samples
    burst: dict[str, float] = field(default_factory=dict)  # offered rates, peak lag, recovery seconds
    targets: dict[str, Any] = field(default_factory=dict)


def _buckets(port: int, name: str) -> dict[float, float]:
    out = {}
    for line in metric_lines(port):
        if line.startswith(name + "_bucket{"):
            bound = line.split('le="')[1].split('"')[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return out


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float | None:
    """Prometheus-style quantile of the observations between two snapshots of a histogram."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    rank = q * total
    lower, previous = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - previous) / max(cumulative - previous, 1e-9)
        lower, previous = bound, cumulative
    return lower


def _records(count: int, seed: int, broken_every: int = 0, turns_per_conversation: int | None = None) -> list[Record]:
    out = []
    for n, conversation in enumerate(conversations(count, seed=seed)):
        for turn in conversation[:turns_per_conversation]:
            if broken_every and n % broken_every == 0 and turn["turn_index"] == 5:
                turn = {**turn, "text": PLACEHOLDER}
            out.append(Record(key=turn["conversation_id"], value=json.dumps(turn).encode(), ts=None))
    return out


def _wait_for_metric(port: int, name: str, at_least: float, worker, timeout: float = 900, poll: float = 0.25) -> None:
    """Poll the worker's /metrics gently (each scrape costs it CPU) until ``name`` reaches ``at_least``."""
    deadline = time.monotonic() + timeout
    while metric_total(port, name) < at_least:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker stopped or timed out before {name} reached {at_least:g}")
        time.sleep(poll)


def _wait_processed(port: int, total: float, worker) -> float:
    """Wait until the worker has processed ``total`` turns; returns when it finished (Unix time).

    The finish time comes from the worker's last-batch gauge, so the poll interval does not pad
    the measurement.
    """
    _wait_for_metric(port, "turnwatch_turns_total", total, worker)
    return metric_total(port, "turnwatch_last_turn_processed_timestamp_seconds")


def measure_worker(
    results: Results,
    env: dict[str, str],
    workdir: Path,
    records: list[Record],
    encoder: EncoderRounds,
    latency_seconds: float,
    offered_tps: float | None,
    log: Log,
) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log_file=workdir / "tansu.log") as broker:
        ensure_topics(
            broker.address,
            [
                "turnwatch.turns",
                "turnwatch.alerts",
                "turnwatch.turns.dlq",
                "turnwatch.deliveries.retry",
                "turnwatch.deliveries.dlq",
            ],
            4,
        )
        port = free_port()
        worker = spawn_worker(
            broker.address, port, workdir / "worker.log", extra_env={**env, "TURNWATCH_DATA_DIR": str(workdir)}
        )
        try:
            wait_ready(port, timeout=180, process=worker)
            # (a) the bare encoder, then (b) the pipeline with everything published at once, then (a) again.
            encoder.measure()
            started = time.time()
            replay(records, broker.address, "turnwatch.turns")
            finished = _wait_processed(port, len(records), worker)
            results.pipeline_turns = len(records)
            results.pipeline_tps = len(records) / (finished - started)
            encoder.measure()
            results.encoder_rounds = {
                f"batch{size}": [round(v, 1) for v in values] for size, values in encoder.rounds.items()
            }
            results.encoder_batch1_tps, results.encoder_batched_tps = encoder.mean(1), encoder.mean(8)
            log(
                f"(a) encoder: batch 1 {results.encoder_batch1_tps:.1f} turns/s, batched {results.encoder_batched_tps:.1f} turns/s"
                f" (mean of the rounds before and after (b): {results.encoder_rounds})"
            )
            log(f"(b) pipeline: {len(records)} turns at {results.pipeline_tps:.1f} turns/s")
            # (c) latency at a fixed offered load.
            results.offered_tps = offered_tps or results.pipeline_tps / 2
            _latency(results, broker.address, port, worker, latency_seconds, log)
            measure_headroom(results, broker.address, port, worker, latency_seconds, log)
            results.worker_rss_mb = rss_bytes(worker.pid) / 2**20
        finally:
            stop_process(worker)
        from streams.tooling.bench_restart import measure_held_conversations, measure_restarts

        measure_held_conversations(results, broker.address, env, workdir, log)
        measure_restarts(results, broker.address, env, workdir, log)
        measure_burst(results, broker.address, env, workdir, log)


def _latency(results: Results, bootstrap: str, port: int, worker, seconds: float, log: Log, seed: int = 23) -> None:
    # This process loaded the models for (a); a full collection of them (~220 ms) would stall
    # the load generator mid-send and be measured as turn→alert latency. The worker does the same.
    gc.freeze()
    # One sample per conversation (a rule pages once per episode): short conversations, and as
    # many as MIN_LATENCY_SAMPLES need, however long that takes at the offered load.
    conversations_needed = max(
        int(results.offered_tps * seconds) // LATENCY_TURNS_PER_CONVERSATION, int(MIN_LATENCY_SAMPLES * 1.1)
    )
    records = _records(
        conversations_needed, seed=seed, broken_every=1, turns_per_conversation=LATENCY_TURNS_PER_CONVERSATION
    )
    sent_at: dict[tuple[str, int], float] = {}
    received: list[float] = []
    stop = threading.Event()
    consumer = KafkaConsumer(
        "turnwatch.alerts", bootstrap_servers=bootstrap, auto_offset_reset="latest", group_id=None, fetch_max_wait_ms=5
    )
    consumer.poll(timeout_ms=500)  # join before publishing

    def collect() -> None:
        while not stop.is_set():
            for batch in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for message in batch:
                    alert = json.loads(message.value)
                    if alert["rule"] == "therapist.malformed":
                        key = (alert["conversation_id"], alert["turns"][0])
                        if key in sent_at:
                            received.append(now - sent_at[key])

    thread = threading.Thread(target=collect, daemon=True)
    thread.start()
    before = metric_total(port, "turnwatch_turns_total")
    histogram_before = _buckets(port, "turnwatch_turn_to_alert_seconds")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    interval = 1.0 / results.offered_tps
    started = time.perf_counter()
    for n, record in enumerate(records):
        due = started + n * interval
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        turn = json.loads(record.value)
        sent_at[(turn["conversation_id"], turn["turn_index"])] = time.time()
        producer.send("turnwatch.turns", key=record.key.encode(), value=record.value)
    producer.flush()
    _wait_processed(port, before + len(records), worker)
    time.sleep(1.0)
    histogram_after = _buckets(port, "turnwatch_turn_to_alert_seconds")
    for q in (50, 95, 99):
        value = histogram_quantile(q / 100, histogram_before, histogram_after)
        if value is not None:
            results.worker_latency_ms[f"p{q}"] = round(1000 * value, 1)
    stop.set()
    thread.join(5)
    consumer.close()
    producer.close()
    milliseconds = [1000 * v for v in received]
    results.latency_samples = len(milliseconds)
    if milliseconds:
        results.latency_ms = {f"p{q}": round(percentile(milliseconds, q), 1) for q in (50, 95, 99)}
        results.latency_ms["mean"] = round(statistics.fmean(milliseconds), 1)
    log(
        f"(c) latency at {results.offered_tps:.1f} turns/s offered: end to end {results.latency_ms} ({len(milliseconds)} alerts); "
        f"inside the worker (broker timestamp → alert produced, from its histogram) {results.worker_latency_ms}"
    )


def measure_headroom(results: Results, bootstrap: str, port: int, worker, seconds: float, log: Log) -> None:
    """(c) again at 80 % of (b): how much of the measured throughput a worker can be planned at."""
    run = Results(backend=results.backend, machine=results.machine, offered_tps=0.8 * results.pipeline_tps)
    _latency(run, bootstrap, port, worker, seconds, log, seed=29)
    results.latency_at_80_percent = {
        "offered_tps": round(run.offered_tps, 1),
        "latency_ms": run.latency_ms,
        "worker_latency_ms": run.worker_latency_ms,
        "samples": run.latency_samples,
    }


def _interleaved(records: list[Record], width: int) -> list[Record]:
    """Records of ``width`` conversations at a time, round robin, each conversation's turns in order."""
    by_conversation: dict[str, list[Record]] = {}
    for record in records:
        by_conversation.setdefault(record.key, []).append(record)
    chats = list(by_conversation.values())
    return [record for start in range(0, len(chats), width) for record in round_robin(chats[start : start + width])]


def measure_burst(
    results: Results, bootstrap: str, env: dict[str, str], workdir: Path, log: Log, burst_seconds: float = BURST_SECONDS
) -> None:
    """(f) a burst at twice (b)'s throughput for ``burst_seconds``, then half of (b) again: how
    high the lag rose and how long after the burst it took to drain (lag back under half a
    second of the steady load). A fresh worker on its own topics, so (d) and (e) are not charged
    for the burst's state; its changelog gives the bytes per turn when conversations interleave."""
    app_id = f"{env['TURNWATCH_APP_ID']}-burst"
    burst_env = {
        **env,
        "TURNWATCH_APP_ID": app_id,
        "TURNWATCH_TURNS_TOPIC": BURST_TOPIC,
        "TURNWATCH_DATA_DIR": str(workdir / "burst"),
    }
    port = free_port()
    worker = spawn_worker(bootstrap, port, workdir / "worker-burst.log", extra_env=burst_env)
    try:
        wait_ready(port, timeout=300, process=worker)
        _burst(results, bootstrap, port, worker, burst_seconds)
    finally:
        stop_process(worker)
    results.changelog_bytes_per_turn_interleaved = Changelogs.read(bootstrap, app_id).bytes_per_turn()
    log(
        f"(f) burst: {burst_seconds:.0f} s at {results.burst['burst_tps']:.0f} turns/s then "
        f"{results.burst['steady_tps']:.0f} turns/s: peak lag {results.burst['peak_lag']} turns, drained "
        f"{results.burst['recovery_s']} s after the burst; changelog bytes per turn with 200 conversations "
        f"interleaved: {results.changelog_bytes_per_turn_interleaved}"
    )


def _burst(results: Results, bootstrap: str, port: int, worker, burst_seconds: float) -> None:
    burst_tps, steady_tps = 2 * results.pipeline_tps, results.pipeline_tps / 2
    # The backlog is (2 - 1) x burst_seconds of (b); it drains at (b) - steady = half of (b).
    needed = int(burst_tps * burst_seconds + steady_tps * (4 * burst_seconds + 30))
    records = _interleaved(_records(needed // 35 + 1, seed=BURST_SEED), width=200)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    before = metric_total(port, "turnwatch_turns_total")
    samples: list[tuple[float, int]] = []  # (seconds since the burst ended, lag)
    sent = 0
    stop = threading.Event()
    started = time.perf_counter()
    burst_end = started + burst_seconds

    def watch() -> None:
        while not stop.is_set():
            processed = metric_total(port, "turnwatch_turns_total") - before
            samples.append((time.perf_counter() - burst_end, int(sent - processed)))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    recovered_at = None
    for record in records:
        now = time.perf_counter()
        due = (
            started + sent / burst_tps
            if sent < burst_tps * burst_seconds
            else burst_end + (sent - burst_tps * burst_seconds) / steady_tps
        )
        if due > now:
            time.sleep(due - now)
        producer.send(BURST_TOPIC, key=record.key.encode(), value=record.value)
        sent += 1
        if samples and samples[-1][0] > 0 and samples[-1][1] <= steady_tps / 2:
            recovered_at = samples[-1][0]
            break
        if worker.poll() is not None:
            raise RuntimeError("the worker stopped during the burst")
    producer.flush()
    stop.set()
    watcher.join(5)
    producer.close()
    _wait_processed(port, before + sent, worker)
    results.burst = {
        "burst_tps": round(burst_tps, 1),
        "steady_tps": round(steady_tps, 1),
        "burst_seconds": burst_seconds,
        "peak_lag": max((lag for _, lag in samples), default=0),
        "recovery_s": round(recovered_at, 1) if recovered_at is not None else -1.0,
    }


def plot(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = ["encoder\nbatch 1", "encoder\nbatched", "pipeline\n(worker)"]
    values = [results.encoder_batch1_tps, results.encoder_batched_tps, results.pipeline_tps]
    left.bar(names, values, color=["#8ab6d6", "#2978b5", "#0f3057"])
    left.set_ylabel("turns / s")
    left.set_title(f"throughput ({results.backend})", fontsize=9)
    if results.latency_ms:
        keys = ["p50", "p95", "p99"]
        right.bar(keys, [results.latency_ms[k] for k in keys], color="#d1495b")
        right.axhline(250, color="#333", linestyle="--", linewidth=1, label="p99 target 250 ms")
        right.legend(fontsize=7)
    right.set_ylabel("ms")
    right.set_title(f"turn → alert latency at {results.offered_tps:.0f} turns/s", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_bench(
    out: Path,
    backend: str,
    conversations_b: int = 40,
    latency_seconds: float = 60.0,
    offered_tps: float | None = None,
    log: Log = print,
) -> Results:
    import platform

    out.mkdir(parents=True, exist_ok=True)
    # The broker is new each run, so table files left by an earlier run would be ahead of its
    # (empty) changelogs: a RocksDB worker refuses to start on them (ConsistencyError).
    shutil.rmtree(out / "work", ignore_errors=True)
    cache_dir = Path(".turnwatch/models").resolve()

    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}"
    )
    results = Results(backend=backend, machine=machine)
    records = _records(conversations_b, seed=11)
    encoder = EncoderRounds(backend, [json.loads(r.value)["text"] for r in records], cache_dir)
    env = {
        "TURNWATCH_ENCODER_BACKEND": backend,
        "TURNWATCH_MODEL_CACHE_DIR": str(cache_dir),
        "TURNWATCH_LOG_LEVEL": "WARNING",
        "TURNWATCH_APP_ID": "turnwatch-bench",
    }
    measure_worker(results, env, out / "work", records, encoder, latency_seconds, offered_tps, log)
    best_encoder = max(results.encoder_batch1_tps, results.encoder_batched_tps)
    results.pipeline_to_encoder_ratio = round(results.pipeline_tps / best_encoder, 3)
    results.targets = {
        "pipeline_vs_encoder": {
            "target": ">= 0.8",
            "value": results.pipeline_to_encoder_ratio,
            "met": results.pipeline_to_encoder_ratio >= 0.8,
        },
        "p99_ms_at_half_load": {
            "target": "<= 250",
            "value": results.latency_ms.get("p99"),
            "met": bool(results.latency_ms) and results.latency_ms["p99"] <= 250,
        },
        "worker_p99_ms_at_half_load": {
            "target": "<= 250",
            "value": results.worker_latency_ms.get("p99"),
            "met": results.worker_latency_ms.get("p99", 1e9) <= 250,
        },
        "state_kb_per_conversation": {
            "target": "<= 50",
            "value": round(results.state_bytes_per_conversation / 1024, 1),
            "met": results.state_bytes_per_conversation <= 50 * 1024,
        },
    }
    (out / "results.json").write_text(json.dumps(asdict(results), indent=2) + "\n")
    plot(results, out / "results.png")
    return results
