"""``turnwatch bench``: throughput, latency and memory, measured side by side in one run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from streams.broker import EmbeddedBroker, free_port
from streams.ingest.files import Record
from streams.replay import ensure_topics, replay
from streams.synthetic import conversations
from streams.worker import spawn_worker, stop_process, wait_ready

Log = Callable[[str], None]


def synthetic_texts(n: int, seed: int = 5) -> list[str]:
    texts: list[str] = []
    for conversation in conversations(n // 20 + 1, seed=seed):
        texts.extend(t["text"] for t in conversation)
    return texts[:n]


def encoder_throughput(backend: str, turns: int, batch_size: int) -> float:
    """Turns per second of the bare encoder (model loaded, one warm-up batch)."""
    from detectors.encoder import Encoder

    encoder = Encoder(backend=backend, batch_size=batch_size, cache_dir=Path(".turnwatch/models"))
    texts = synthetic_texts(turns)
    encoder.encode(texts[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        encoder.encode(texts[start : start + batch_size])
    return len(texts) / (time.perf_counter() - started)


@dataclass
class PipelineRun:
    turns: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.turns / self.seconds


def _metric(port: int, name: str) -> float:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(l.rsplit(" ", 1)[1]) for l in lines if l.startswith(name + "{") or l.startswith(name + " "))


def pipeline_throughput(conversation_count: int, env: dict[str, str], workdir: Path, log: Log = print) -> PipelineRun:
    """All turns published at once; seconds until the worker has processed every one."""
    records = [Record(key=t["conversation_id"], value=json.dumps(t).encode(), ts=None)
               for c in conversations(conversation_count, seed=11) for t in c]
    workdir.mkdir(parents=True, exist_ok=True)
    with EmbeddedBroker(log_file=workdir / "tansu.log") as broker:
        ensure_topics(broker.address, ["turnwatch.turns", "turnwatch.alerts", "turnwatch.turns.dlq"], 4)
        port = free_port()
        worker = spawn_worker(broker.address, port, workdir / "worker.log", extra_env={**env, "TURNWATCH_DATA_DIR": str(workdir)})
        try:
            wait_ready(port, timeout=120, process=worker)
            started = time.perf_counter()
            replay(records, broker.address, "turnwatch.turns")
            while _metric(port, "turnwatch_turns_total") < len(records):
                if worker.poll() is not None:
                    raise RuntimeError(f"worker exited; see {workdir / 'worker.log'}")
                time.sleep(0.1)
            seconds = time.perf_counter() - started
        finally:
            stop_process(worker)
    log(f"pipeline {env}: {len(records)} turns in {seconds:.1f}s = {len(records) / seconds:.1f} turns/s")
    return PipelineRun(len(records), seconds)
