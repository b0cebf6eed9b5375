"""Commands that load the system: the benchmark and the crash test."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from streams.tooling.cli_support import (
    settings_for,
    stdout_console,
)


def cmd_bench_console(args: argparse.Namespace) -> int:
    import platform

    from rich.table import Table

    from streams.tooling.console_bench import run_console_bench

    results = run_console_bench(args.stored_alerts)
    table = Table(title=f"turnwatch bench --console — {platform.machine()}, {os.cpu_count()} CPUs, SQLite store")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("alerts stored", f"{results.stored_alerts:,}")
    table.add_row(
        "feed page (200 newest, critical on top)", ", ".join(f"{k} {v} ms" for k, v in results.feed_ms.items())
    )
    table.add_row(
        "alert page (timeline, evidence, curve)", ", ".join(f"{k} {v} ms" for k, v in results.alert_page_ms.items())
    )
    table.add_row(
        f"live feed: alert produced → SSE event ({results.live_samples} samples)",
        ", ".join(f"{k} {v} ms" for k, v in results.live_delay_ms.items()),
    )
    stdout_console().print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps(results.__dict__, indent=2) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from streams.tooling.bench import run_bench

    if args.console:
        return cmd_bench_console(args)
    settings = settings_for(args)
    console = stdout_console()
    results = run_bench(
        Path(args.out),
        args.backend or settings.encoder_backend,
        args.conversations,
        args.latency_seconds,
        args.offered,
        log=lambda line: console.print(line, highlight=False),
    )
    table = Table(title=f"turnwatch bench — {results.backend}, {results.machine}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("encoder, batch 1 (mean of the rounds around (b))", f"{results.encoder_batch1_tps:.1f} turns/s"),
        ("encoder, batched (mean of the rounds around (b))", f"{results.encoder_batched_tps:.1f} turns/s"),
        ("pipeline (broker + worker)", f"{results.pipeline_tps:.1f} turns/s"),
        ("pipeline / best encoder", f"{results.pipeline_to_encoder_ratio:.2f}×  (target ≥ 0.8×)"),
        ("machine", results.machine),
        ("encoder backend", results.backend),
        (
            f"turn→alert at {results.offered_tps:.1f} turns/s, end to end ({results.latency_samples} samples)",
            ", ".join(f"{k} {v} ms" for k, v in results.latency_ms.items()),
        ),
        ("  of which inside the worker", ", ".join(f"{k} {v} ms" for k, v in results.worker_latency_ms.items())),
        (
            "state per conversation",
            f"{results.state_bytes_per_conversation / 1024:.1f} KB mean, {results.state_bytes_max / 1024:.1f} KB max",
        ),
        (
            "changelog bytes per processed turn",
            (
                f"{results.changelog_bytes_per_turn['mean']:.0f} B mean, "
                f"{results.changelog_bytes_per_turn['p99']:.0f} B p99 (target ≤ 2 KB)"
            )
            if results.changelog_bytes_per_turn
            else "not measured",
        ),
        (
            "changelog bytes per turn, 200 conversations interleaved ((f))",
            f"{results.changelog_bytes_per_turn_interleaved.get('mean', 0):.0f} B mean, "
            f"{results.changelog_bytes_per_turn_interleaved.get('p99', 0):.0f} B p99",
        ),
        (
            f"turn→alert at 80 % of (b), {results.latency_at_80_percent.get('offered_tps', 0):.1f} turns/s, end to end",
            ", ".join(f"{k} {v} ms" for k, v in results.latency_at_80_percent.get("latency_ms", {}).items())
            + f" ({results.latency_at_80_percent.get('samples', 0)} samples)",
        ),
        (
            "(f) burst: 30 s at 2× (b), then ½ (b): peak lag, drained after",
            f"{results.burst['peak_lag']:.0f} turns, {results.burst['recovery_s']:.1f} s"
            if results.burst
            else "not measured",
        ),
        ("worker RSS holding 10k conversations", f"{results.rss_10k_conversations_mb:.0f} MB"),
        ("worker RSS after the run", f"{results.worker_rss_mb:.0f} MB"),
        *(
            (f"restart-to-ready, 10k conversations, {store}", ", ".join(f"{k} {v} s" for k, v in times.items()))
            for store, times in results.restart_to_ready_s.items()
        ),
        *(
            (
                f"  where a {store} restart after SIGKILL went",
                ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in split.get("after SIGKILL", {}).items()),
            )
            for store, split in results.restart_split_s.items()
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {Path(args.out) / 'results.json'} and {Path(args.out) / 'results.png'}")
    return 0


def cmd_crashtest(args: argparse.Namespace) -> int:
    import logging

    from streams.logs import configure
    from streams.monitor.worker import broker_for
    from streams.tooling.crashtest import CrashPlan, run_crashtest

    settings = settings_for(args, broker=args.broker)
    configure("WARNING", "console")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # "group_id is None" on every read-back
    plan = CrashPlan(
        turns=args.turns, kills=args.kills, workers=args.workers, add_worker=args.add_worker, seed=args.seed
    )
    run_dir = Path(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    with broker_for(settings, log_file=run_dir / "tansu.log") as ready:
        report = run_crashtest(ready.broker, plan, run_dir)
    for line in report.lines():
        print(line)
    (run_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(f"report: {run_dir / 'report.json'}; worker logs in {run_dir}/")
    return 0 if report.ok else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="encoder vs pipeline throughput, turn→alert latency, state size and memory")
    p.add_argument("--out", default="bench", help="directory for results.json and results.png")
    p.add_argument("--backend", choices=["torch", "onnx"], help="encoder backend (default: the configured one)")
    p.add_argument("--console", action="store_true", help="only the reviewer console: page load and live-feed delay")
    p.add_argument("--stored-alerts", type=int, default=10_000, help="alerts in the store for --console")
    p.add_argument("--conversations", type=int, default=40, help="synthetic conversations for the throughput run")
    p.add_argument(
        "--latency-seconds",
        type=float,
        default=60.0,
        help="shortest duration of the fixed-load latency run (it runs on until 500 turn→alert samples)",
    )
    p.add_argument(
        "--offered", type=float, default=None, help="offered load in turns/s (default: half the pipeline rate)"
    )
    p.set_defaults(handler=cmd_bench)

    p = sub.add_parser(
        "crashtest", help="replay turns, SIGKILL workers mid-stream, compare alerts and deliveries with a clean run"
    )
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (default: start an embedded broker)")
    p.add_argument("--turns", type=int, default=2000, help="turns to replay (example crises cloned, plus small talk)")
    p.add_argument("--kills", type=int, default=3, help="SIGKILLs at spaced points of the run")
    p.add_argument("--workers", type=int, default=1, help="workers in the consumer group")
    p.add_argument(
        "--add-worker", action="store_true", help="start one more worker half-way (rebalance onto a newcomer)"
    )
    p.add_argument("--seed", type=int, default=7, help="seed for the workload and the kill timing")
    p.add_argument("--out", default=".turnwatch/crashtest", help="directory for report.json and the worker logs")
    p.set_defaults(handler=cmd_crashtest)
