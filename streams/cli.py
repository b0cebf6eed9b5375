"""The ``turnwatch`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import errno
import json
import os
import select
import sys

# The emotion head's matmuls are tiny; OpenBLAS threads only compete with the encoder's own
# thread pool for the same cores (measured: 40 % slower micro-batches). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from streams.errors import ConfigError, TurnwatchError
from streams.settings import detector_problems, load_settings, setting_source

Handler = Callable[[argparse.Namespace], int]
SEVERITY_CHOICES = ["info", "warning", "high", "critical"]
CONFIG_HELP = "YAML settings file (also TURNWATCH_CONFIG); env TURNWATCH_* overrides it"
DEBUG_HELP = "show the full traceback when a command fails"
UNWRAPPED = 10_000  # columns of piped output: a row stays one line for grep, cut and files
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a command stopped by a closed pipe


def _settings(args: argparse.Namespace, **overrides):
    config = getattr(args, "config", None)
    settings = load_settings(config, **overrides)
    problems = detector_problems(settings, config)  # the file and key of a misspelt detector option
    if problems:
        raise ConfigError("; ".join(problems), problems)
    return settings


@cache
def _stdout_console_class() -> type:
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1, which `scan --fail-on` means as "an alert"; main() ends quietly.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return StdoutConsole


def _out(min_width: int = 0, **options: Any):
    """A rich Console on standard output. On a terminal: its width (at least ``min_width``).
    In a pipe or file: nothing wraps (rich would wrap at 80 columns)."""
    console_class = _stdout_console_class()
    console = console_class(**options)
    if not console.is_terminal:
        return console_class(width=UNWRAPPED, soft_wrap=True, **options)
    if console.width < min_width:
        console.width = min_width
    return console


def cmd_broker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from streams.runtime.broker import EmbeddedBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(host=args.host, port=args.port) as broker:
        print(f"tansu broker listening on {broker.address} (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.logs import configure
    from streams.runtime.broker_probe import require_broker
    from streams.runtime.worker import run_worker

    settings = _settings(args, broker=args.broker, web_port=args.web_port)
    configure(settings.log_level, settings.log_format)
    if settings.broker is not None:
        require_broker(settings.broker, wait_seconds=settings.broker_wait_seconds)
    run_worker(settings)
    return 0


def _start(args: argparse.Namespace) -> datetime | None:
    if not args.start:
        return None
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError:
        raise TurnwatchError(
            f"--start {args.start!r} is not an RFC 3339 time; write it like 2026-01-01T09:00:00+00:00"
        ) from None
    if start.tzinfo is None:
        raise TurnwatchError(f"--start {args.start!r} has no time zone; add one, e.g. {args.start}+00:00")
    return start


def _records(args: argparse.Namespace) -> list:
    from streams.runtime.ingest.files import DEFAULT_START, read_records

    records = list(read_records(args.paths, start=_start(args) or DEFAULT_START))
    if not records:
        raise TurnwatchError(
            f"no turns in {' '.join(args.paths)}: expected transcripts (.txt, .md, .transcript) "
            "or JSONL turn events (.jsonl, .ndjson), or - for standard input"
        )
    return records


def cmd_parse(args: argparse.Namespace) -> int:
    records = _records(args)
    if args.format == "table":
        from streams.tooling.alert_render import print_turns

        print_turns(records, _out(120))
        return 0
    out = sys.stdout.buffer
    for record in records:
        out.write(record.value + b"\n")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from streams.runtime.broker_probe import require_broker
    from streams.runtime.kafka_security import kafka_python_options
    from streams.runtime.replay import ensure_topics, replay

    settings = _settings(args, broker=args.broker)
    if settings.broker is None:
        raise TurnwatchError("replay needs a broker: pass --broker HOST:PORT or set TURNWATCH_BROKER")
    records = _records(args)
    require_broker(settings.broker)
    console = Console(stderr=True)
    security = kafka_python_options(settings)
    ensure_topics(settings.broker, [settings.turns_topic], settings.partitions, security)
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(
        *columns, console=console, transient=False, disable=args.quiet or not console.is_terminal
    ) as progress:
        task = progress.add_task("replay", total=len(records))
        summary = replay(
            records,
            settings.broker,
            settings.turns_topic,
            speed=args.speed,
            security=security,
            on_sent=lambda _: progress.advance(task),
        )
    console.print(
        f"sent {summary.sent} turns from {len(summary.conversations)} conversations to "
        f"{settings.turns_topic} in {summary.seconds:.2f}s ({summary.rate:.0f} turns/s); failed: {summary.failed}"
    )
    for error in summary.errors:
        console.print(f"  error: {error}")
    return 1 if summary.failed else 0


DEAD_LETTERS_SHOWN_PER_FILE = 10


def cmd_scan(args: argparse.Namespace) -> int:
    from collections import Counter

    from rich.console import Console

    from detectors.findings import Severity
    from streams.runtime.build import build_pipeline
    from streams.tooling.alert_render import print_alert
    from streams.tooling.scan import scan_with_records

    settings = _settings(args)
    records = _records(args)
    pipeline = build_pipeline(settings)
    shown_from = Severity.parse(args.min_severity)
    fail_at = Severity.parse(args.fail_on) if args.fail_on else None
    counts: Counter[str] = Counter()
    dead_by_file: Counter[str] = Counter()
    table = _out(highlight=False)
    worst: Severity | None = None
    for record, result in scan_with_records(records, pipeline, settings.batch_max):
        counts["turns" if result.processed else (result.arrival.value if result.arrival else "invalid")] += 1
        if result.dead_letter is not None:
            counts[f"dead letter ({result.dead_letter.reason})"] += 1
            source = record.origin.rsplit(":", 1)[0].split(" turn ")[0]
            dead_by_file[source] += 1
            if dead_by_file[source] <= DEAD_LETTERS_SHOWN_PER_FILE:
                print(
                    f"dead letter: {record.origin}: {result.dead_letter.reason}: {result.dead_letter.detail}",
                    file=sys.stderr,
                )
        for alert in result.alerts:
            counts["alerts"] += 1
            severity = Severity.parse(alert.severity)
            worst = severity if worst is None else max(worst, severity)
            if severity < shown_from:
                continue
            if args.format == "table":
                print_alert(table, alert.model_dump(mode="json"))
            else:
                sys.stdout.write(alert.model_dump_json() + "\n")
    for source, n in dead_by_file.items():
        if n > DEAD_LETTERS_SHOWN_PER_FILE:
            print(f"dead letter: {source}: {n - DEAD_LETTERS_SHOWN_PER_FILE} more not shown", file=sys.stderr)
    Console(stderr=True).print(", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    if fail_at is not None and worst is not None and worst >= fail_at:
        print(f"turnwatch scan: an alert at {worst.label} (--fail-on {fail_at.label})", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.tooling.demo import run_demo

    settings = _settings(args, web_port=args.web_port)
    return run_demo(settings, paths=args.paths, duration=args.duration, speed=args.speed)


def cmd_schemas(args: argparse.Namespace) -> int:
    from streams.tooling.schemas import write_schemas

    for path in write_schemas(Path(args.out)):
        print(path)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    if args.verdicts:
        if args.head or args.data:
            raise TurnwatchError("train --verdicts FILE recalibrates rule thresholds; it takes no head or --data")
        return cmd_train_verdicts(args)
    if not args.head or not args.data:
        raise TurnwatchError("name a head and its --data (train crisis --data DIR), or pass --verdicts FILE")
    data = Path(args.data)
    if not data.exists():
        raise FileNotFoundError(f"{data}: no such file or directory")
    if args.head == "emotion":
        from streams.tooling.training.emotion import train_emotion

        report = train_emotion(data)
    elif args.head == "crisis":
        from detectors.crisis.conversation_training import train_crisis

        report = train_crisis(data)
    elif args.head == "lexicon":
        from detectors.crisis.lexicon_source import build_lexicon

        report = {"constructs": len(build_lexicon(data)["constructs"])}
    else:
        from detectors.therapist.training import train_counselling

        report = train_counselling(data)
    print(json.dumps(report, indent=2))
    return 0


def cmd_train_verdicts(args: argparse.Namespace) -> int:
    from streams.runtime.build import build_pipeline, build_rule_thresholds
    from streams.tooling.verdict_eval import read_examples
    from streams.tooling.verdict_training import THRESHOLDS_FILE, train_from_verdicts, write_thresholds

    for name, value, fits in (
        ("--target-precision", args.target_precision, 0.0 < args.target_precision <= 1.0),
        ("--min-recall", args.min_recall, 0.0 <= args.min_recall <= 1.0),
        ("--holdout", args.holdout, 0.0 < args.holdout < 1.0),
    ):
        if not fits:
            raise TurnwatchError(f"{name} {value} is out of range: it is a fraction between 0 and 1")
    if args.min_examples < 1:
        raise TurnwatchError(f"--min-examples {args.min_examples}: at least 1")
    try:
        examples = list(read_examples(Path(args.verdicts)))
    except ValueError as exc:
        raise TurnwatchError(str(exc)) from None
    if not examples:
        raise TurnwatchError(f"{args.verdicts}: no judged alerts; reviewers' verdicts come from the console")
    settings = _settings(args)
    current = build_rule_thresholds(settings)
    thresholds, report = train_from_verdicts(
        examples,
        build_pipeline(settings),
        current=current,
        target_precision=args.target_precision,
        min_examples=args.min_examples,
        min_recall=args.min_recall,
        holdout=args.holdout,
    )
    out = write_thresholds(thresholds, Path(args.out) if args.out else settings.data_dir / THRESHOLDS_FILE)
    report = {"verdicts": str(args.verdicts), "thresholds_file": str(out), **report}
    print(json.dumps(report, indent=2))
    print(
        f"{len(thresholds)} rule thresholds written to {out}; a worker started with TURNWATCH_RULE_THRESHOLDS={out} "
        "applies them",
        file=sys.stderr,
    )
    return 0


def cmd_eval_behaviours(args: argparse.Namespace) -> int:
    from streams.runtime.build import build_pipeline
    from streams.tooling.behaviour_eval import blind_items, evaluate_behaviours

    items = [item for path in args.paths for item in blind_items(Path(path))]
    report = evaluate_behaviours(build_pipeline(_settings(args)), items)
    out = Path(".turnwatch/eval")
    out.mkdir(parents=True, exist_ok=True)
    (out / "behaviours.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def cmd_eval_sessions(args: argparse.Namespace) -> int:
    from streams.runtime.build import build_pipeline
    from streams.tooling.session_eval import evaluate_sessions

    (folder,) = args.paths if len(args.paths) == 1 else (None,)
    if folder is None or not (Path(folder) / "ratings.jsonl").is_file():
        raise ValueError("--sessions takes one PATH: a folder of transcripts with a ratings.jsonl beside them")
    report = evaluate_sessions(build_pipeline(_settings(args)), Path(folder))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sessions.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def cmd_eval_dataset(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from streams.runtime.build import build_pipeline
    from streams.tooling.realdata import evaluate_dataset, plot_precision_recall, read_dataset, severity_columns

    settings = _settings(args)
    (path,) = args.paths if len(args.paths) == 1 else (None,)
    if path is None:
        raise ValueError(f"--dataset {args.dataset} takes one PATH (the dataset file or directory)")
    total = sum(1 for _ in read_dataset(args.dataset, Path(path), args.split))
    console = Console(stderr=True)
    pipeline = build_pipeline(settings)
    with Progress(
        TextColumn(f"eval {args.dataset}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("eval", total=total)
        report = evaluate_dataset(args.dataset, Path(path), pipeline, args.split, lambda n: progress.advance(task, n))
    turns = ", ".join(f"{n} {role} turns" for role, n in sorted(report.turns.items()))
    table = Table(title=f"{args.dataset}: alerts on real text ({turns})")
    table.add_column("rule", no_wrap=True)
    for column in (*severity_columns(), "alerts", "per 100 turns", "critical per 100"):
        table.add_column(column, justify="right")
    for rule, counts in sorted(report.by_rule.items()):
        table.add_row(
            rule,
            *(str(counts.get(s, 0)) for s in severity_columns()),
            str(sum(counts.values())),
            f"{report.per_100(rule):.2f}",
            f"{report.critical_per_100(rule):.2f}",
        )
    wide = _out(132)
    wide.print(table)
    data = report.to_dict()
    for group, counts in data["groups"].items():
        wide.print(f"{group}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if data["labelled"]:
        wide.print("labelled (post level): " + json.dumps(data["labelled"]))
    if data["rejected"]:
        wide.print(
            f"not scored (dead-lettered as the worker would; raise TURNWATCH_MAX_TEXT_BYTES to include): "
            f"{json.dumps(data['rejected'])}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{args.dataset}.json"
    target.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"report: {target}")
    if data["crisis_ranking"]:
        wide.print("crisis ranking (hand labels): " + json.dumps(data["crisis_ranking"]))
    if args.plot:
        plot = plot_precision_recall(report, out / f"{args.dataset}-precision-recall.png")
        console.print(f"plot: {plot}" if plot else "plot: this data set has no hand labels to draw a curve against")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if args.verdicts:
        return cmd_eval_verdicts(args)
    if args.dataset:
        return cmd_eval_dataset(args)
    if args.behaviours:
        return cmd_eval_behaviours(args)
    if args.sessions:
        return cmd_eval_sessions(args)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from streams.examples import LABELS_DIR
    from streams.runtime.build import build_pipeline
    from streams.tooling.evaluate import (
        alerts_per_100_turns,
        load_labels,
        plot_conversation,
        report_tables,
        run_conversations,
        score,
    )

    settings = _settings(args)
    label_paths = (
        [Path(p) for p in args.labels]
        if args.labels
        else sorted(LABELS_DIR.glob("expected.jsonl")) + sorted(LABELS_DIR.glob("seeds.jsonl"))
    )
    labels = load_labels(label_paths)
    records = _records(args)
    console = Console(stderr=True)
    pipeline = build_pipeline(settings)
    with Progress(
        TextColumn("eval"), BarColumn(), MofNCompleteColumn(), console=console, disable=not console.is_terminal
    ) as progress:
        task = progress.add_task("eval", total=len(records))
        runs = run_conversations(args.paths, pipeline, progress=lambda: progress.advance(task))
    report = score(runs, labels)
    if not report["conversations"]:
        raise TurnwatchError(
            f"none of the {len(runs)} conversations has a line in the labels "
            f"({', '.join(str(p) for p in label_paths)}); pass --labels with their expected alerts"
        )
    out = Path(args.out)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    for run in runs.values():
        plot_conversation(
            run, out / "plots" / f"{run.conversation_id.replace('/', '_')}.png", labels.get(run.conversation_id)
        )
    report["alerts_per_100_turns"] = alerts_per_100_turns(runs)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    wide = _out(140)  # full rule names and every column
    for table in report_tables(report, runs):
        wide.print(table)
    console.print(f"report: {out / 'report.json'}; plots: {out / 'plots'}/ ({len(runs)} conversations)")
    return 0


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
    _out().print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "console.json").write_text(json.dumps(results.__dict__, indent=2) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from rich.table import Table

    from streams.tooling.bench import run_bench

    if args.console:
        return cmd_bench_console(args)
    settings = _settings(args)
    console = _out()
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
        ("worker RSS holding 10k conversations", f"{results.rss_10k_conversations_mb:.0f} MB"),
        ("worker RSS after the run", f"{results.worker_rss_mb:.0f} MB"),
        *(
            (f"restart-to-ready, 10k conversations, {store}", ", ".join(f"{k} {v} s" for k, v in times.items()))
            for store, times in results.restart_to_ready_s.items()
        ),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"wrote {Path(args.out) / 'results.json'} and {Path(args.out) / 'results.png'}")
    return 0


def cmd_receiver(args: argparse.Namespace) -> int:
    from streams.runtime.delivery.receiver import receiver_secret, run_receiver

    receiver_secret()  # fails with the variables to set before anything is printed

    print(f"webhook receiver on http://{args.host}:{args.port}/hook (verifying signatures)", flush=True)
    run_receiver(args.host, args.port)
    return 0


CONSOLE_PROBE_SECONDS = 3.0


def cmd_console(args: argparse.Namespace) -> int:
    from streams.logs import configure
    from streams.runtime.broker_probe import require_broker
    from streams.runtime.console.service import run_console
    from streams.runtime.kafka_security import kafka_python_options
    from streams.runtime.replay import ensure_topics

    settings = _settings(args, broker=args.broker, console_port=args.port, console_host=args.host)
    if settings.broker is None:
        raise TurnwatchError("the console reads the alerts topic: pass --broker HOST:PORT or set TURNWATCH_BROKER")
    configure(settings.log_level, settings.log_format)
    # One short probe, no waiting (broker_wait_seconds is the worker's): a wrong or dead address
    # is one line naming it, not half a minute of silence.
    require_broker(settings.broker, connect_timeout=CONSOLE_PROBE_SECONDS)
    ensure_topics(settings.broker, [settings.verdicts_topic], settings.partitions, kafka_python_options(settings))
    run_console(settings, on_ready=lambda url: print(f"reviewer console on {url}", flush=True))
    return 0


def _existing_store(db: str | None, settings, config: str | None) -> str:
    """The console store's SQLAlchemy URL: ``--db`` (a URL, or a plain file path taken as SQLite),
    else ``console_db_url``, else data_dir/console.db. A SQLite store must already exist: opening a
    missing one would create an empty store and export nothing."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from streams.runtime.console.service import store_url

    if db is not None and "://" not in db:
        url = f"sqlite:///{Path(db).expanduser().resolve()}"
    else:
        url = db or store_url(settings)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TurnwatchError(
            f"--db {db!r} is neither a file nor a SQLAlchemy URL (sqlite:///PATH, postgresql+psycopg://...)"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise TurnwatchError(f"{url}: an in-memory SQLite store holds no verdicts; name the console's store file")
        path = Path(parsed.database).resolve()
        if not path.is_file():
            if db is not None:
                hint = "check --db"
            elif settings.console_db_url:
                hint = f"check console_db_url ({setting_source('console_db_url', config)})"
            else:
                hint = "run this where the console ran, or pass --db FILE / set TURNWATCH_CONSOLE_DB_URL"
            raise TurnwatchError(f"no console store at {path} (the reviewer console writes it); {hint}")
    return url


def cmd_verdicts_export(args: argparse.Namespace) -> int:
    from streams.runtime.console.store import AlertStore

    settings = _settings(args)
    store = AlertStore.open(_existing_store(args.db, settings, getattr(args, "config", None)))
    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    count = 0
    try:
        for example in store.verdict_examples():
            out.write(json.dumps(example, default=str) + "\n")
            count += 1
    finally:
        if out is not sys.stdout:
            out.close()
        store.close()
    print(f"{count} judged alerts written to {args.out}", file=sys.stderr)
    return 0


def cmd_eval_verdicts(args: argparse.Namespace) -> int:
    from rich.table import Table

    from streams.runtime.build import build_pipeline
    from streams.tooling.verdict_eval import evaluate_verdicts, read_examples

    if len(args.paths) != 1:
        raise TurnwatchError("--verdicts takes one file written by `turnwatch verdicts export`")
    examples = list(read_examples(Path(args.paths[0])))
    if not examples:
        raise TurnwatchError(f"{args.paths[0]}: no judged alerts; reviewers' verdicts come from the console")
    report = evaluate_verdicts(examples, build_pipeline(_settings(args)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdicts.json").write_text(json.dumps(report, indent=2) + "\n")
    table = Table(title=f"reviewer verdicts against the current code ({len(examples)} judged alerts)")
    columns = ("kept", "lost", "remaining", "fixed", "unsure", "wrong_severity", "severity_fixed", "wrong_rule")
    columns += ("precision",)
    for column in ("rule", *columns):
        table.add_column(column.replace("_", " "), justify="left" if column == "rule" else "right")
    rows = [*report["per_rule"].items(), ("TOTAL", report["total"])]
    for rule, row in rows:
        table.add_row(rule, *("-" if row[c] is None else str(row[c]) for c in columns))
    _out(120).print(table)
    return 0


def cmd_crashtest(args: argparse.Namespace) -> int:
    import logging

    from streams.logs import configure
    from streams.runtime.worker import broker_for
    from streams.tooling.crashtest import CrashPlan, run_crashtest

    settings = _settings(args, broker=args.broker)
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


def cmd_check_config(args: argparse.Namespace) -> int:
    from streams.tooling.config_check import check_config

    problems, summary = check_config(getattr(args, "config", None), args.delivery)
    for line in summary:
        print(line)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(
        "configuration ok" if not problems else f"{len(problems)} problem(s)",
        file=sys.stderr if problems else sys.stdout,
    )
    return 1 if problems else 0


def cmd_routes_test(args: argparse.Namespace) -> int:
    import difflib

    from streams.runtime.delivery.config import SEVERITIES, load_delivery_config, registry_rules

    settings = _settings(args)
    path = args.delivery or settings.delivery_config
    if path is None:
        raise TurnwatchError("no delivery config: pass --delivery PATH or set TURNWATCH_DELIVERY_CONFIG")
    rules = registry_rules()
    if args.rule not in rules:
        close = difflib.get_close_matches(args.rule, list(rules), n=1)
        raise TurnwatchError(f"unknown rule {args.rule!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    detector = rules[args.rule]  # a rule is named after its detector: crisis.method -> crisis
    if args.detector is not None and args.detector != detector:
        raise TurnwatchError(f"rule {args.rule!r} belongs to detector {detector!r}, not {args.detector!r}")
    if args.severity not in SEVERITIES:
        raise TurnwatchError(f"severity must be one of {', '.join(SEVERITIES)}")
    # Routing only: nothing is sent, so the receivers' secrets need not be set here.
    config = load_delivery_config(path, rules, resolve_secrets=False)
    matched = config.matching_routes(detector, args.rule, args.severity)
    if not matched:
        print(f"{detector}/{args.rule} at {args.severity}: no route matches; the alert stays on the alerts topic only")
        return 0
    for index, route in matched:
        print(f"routes[{index}] matches" + (" (continue)" if route.continue_ else ""))
    for name in config.route(detector, args.rule, args.severity):
        print(f"  -> {name} ({config.receiver(name).kind})")
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from streams.examples import example_paths

    paths = example_paths()
    width = max(len(path.stem) for path in paths)
    for path in paths:
        print(f"{path.stem:<{width}}  {path}")
    return 0


def _example_path(name: str) -> Path:
    """A shipped example by file name, stem, or stem without its number (crisis example: 01_escalating_distress_crisis,
    escalating_distress_crisis or 01_escalating_distress_crisis.txt)."""
    import difflib

    from streams.examples import example_paths

    known: dict[str, Path] = {}
    for path in example_paths():
        number, _, rest = path.stem.partition("_")
        for key in (path.name, path.stem, rest if number.isdigit() else path.stem):
            known.setdefault(key, path)
    if name in known:
        return known[name]
    close = difflib.get_close_matches(name, [p.stem for p in example_paths()], n=1, cutoff=0.5)
    raise TurnwatchError(
        f"--example {name!r} is not a shipped example"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + "; `turnwatch examples` lists them"
    )


def _resolve_examples(args: argparse.Namespace) -> None:
    """--example NAME adds that shipped transcript to the command's paths."""
    examples = getattr(args, "example", None) or []
    if examples:
        args.paths = [*args.paths, *(str(_example_path(name)) for name in examples)]
    if getattr(args, "needs_paths", False) and not args.paths:
        raise TurnwatchError(
            "name what to read: PATH... (transcripts, JSONL, directories, - for standard input) or --example NAME "
            "(`turnwatch examples` lists the shipped ones)"
        )


def cmd_dashboards(args: argparse.Namespace) -> int:
    from streams.tooling.dashboards import write_dashboards

    for path in write_dashboards(Path(args.out)):
        print(path)
    return 0


def _add_example(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example",
        action="append",
        metavar="NAME",
        help="a shipped example transcript (repeatable; `turnwatch examples` lists them), found inside the package",
    )


def _add_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="transcripts (.txt/.md), JSONL files or directories; - reads standard input",
    )
    _add_example(parser)
    parser.add_argument(
        "--start", help="RFC 3339 time of each transcript's first turn (default 2026-01-01T00:00:00+00:00)"
    )
    parser.set_defaults(needs_paths=True)


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """--config and --debug after the command too (``turnwatch scan --config F PATH``), at every level.
    SUPPRESS: the option sets the namespace only when given there, so one given before the command stands."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for child in dict.fromkeys(action.choices.values()):  # an alias shares its parser
            if "--config" not in child._option_string_actions:
                child.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
            if "--debug" not in child._option_string_actions:
                child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
            _add_global_options(child)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("turnwatch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turnwatch", description="Real-time safety and quality monitor for AI therapy conversations."
    )
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"turnwatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="embedded broker + worker, replay the shipped examples, print alerts live")
    p.add_argument("paths", nargs="*", metavar="PATH", help="transcripts to replay (default: the shipped examples)")
    _add_example(p)
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop this many seconds after the worker is ready (default: Ctrl-C)",
    )
    p.add_argument(
        "--speed", type=float, default=40.0, help="real-time pacing factor for the replay (0 = as fast as possible)"
    )
    p.add_argument("--web-port", type=int, default=None, help="port for /metrics, /healthz, /readyz, /v1/turns")
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("worker", help="run the Faust worker (monitor agent, HTTP ingest, /metrics)")
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (default: start an embedded broker)")
    p.add_argument("--web-port", type=int, default=None, help="port for /metrics, /healthz, /readyz, /v1/turns")
    p.set_defaults(handler=cmd_worker)

    p = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (tansu) on loopback")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9092, help="port to listen on")
    p.set_defaults(handler=cmd_broker)

    p = sub.add_parser("replay", help="publish transcripts or JSONL to the turns topic with kafka-python")
    _add_paths(p)
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)")
    p.add_argument("--speed", type=float, default=None, help="real-time pacing factor (default: as fast as possible)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser("parse", help="print the TurnEvents a transcript becomes, as JSONL (what replay sends)")
    _add_paths(p)
    p.add_argument(
        "--format",
        choices=["jsonl", "table"],
        default="jsonl",
        help="jsonl: the events verbatim (default); table: conversation, turn, role and text, for people",
    )
    p.set_defaults(handler=cmd_parse)

    p = sub.add_parser("scan", help="run the detectors in-process over transcripts or JSONL; print the alerts")
    _add_paths(p)
    p.add_argument(
        "--format",
        choices=["jsonl", "table"],
        default="jsonl",
        help="jsonl: one alert per line (default); table: severity-coloured, for people",
    )
    p.add_argument("--min-severity", choices=SEVERITY_CHOICES, default="info", help="print alerts at or above this")
    p.add_argument(
        "--fail-on",
        choices=SEVERITY_CHOICES,
        metavar="SEVERITY",
        help="exit 1 if any alert is at or above SEVERITY (info, warning, high, critical), for CI",
    )
    p.set_defaults(handler=cmd_scan)

    p = sub.add_parser(
        "train",
        help="train a head on the frozen encoder and write its weights to detectors/heads/, or (--verdicts) "
        "recalibrate the rules' score thresholds from reviewer verdicts",
    )
    p.add_argument(
        "head",
        nargs="?",
        choices=["emotion", "crisis", "counselling", "lexicon"],
        help="emotion: GoEmotions; crisis: the sentence head then the conversation model; counselling: the "
        "labelled sentence sets (real ones read from --data); lexicon: rebuild the vendored Suicide Risk Lexicon",
    )
    p.add_argument(
        "--data",
        help="emotion: the GoEmotions directory; crisis, counselling: the shared data directory "
        "(counsel-chat/, sdcnl/); lexicon: construct-tracker's wheel (pip download --no-deps construct-tracker==1.0.16)",
    )
    p.add_argument(
        "--verdicts",
        metavar="FILE",
        help="a `turnwatch verdicts export` file: per rule, the lowest score threshold that reaches "
        "--target-precision on part of the verdicts, checked before/after on the held-out rest (a JSON report)",
    )
    p.add_argument(
        "--target-precision", type=float, default=0.9, help="with --verdicts: the precision each rule should reach"
    )
    p.add_argument(
        "--min-examples",
        type=int,
        default=10,
        help="with --verdicts: judged alerts of a rule (raised again by the current code) needed to calibrate it",
    )
    p.add_argument(
        "--min-recall",
        type=float,
        default=0.5,
        help="with --verdicts: leave a rule alone if its threshold would keep fewer of its true alerts than this",
    )
    p.add_argument(
        "--holdout", type=float, default=0.3, help="with --verdicts: share of conversations held out for the check"
    )
    p.add_argument(
        "--out", help="with --verdicts: the thresholds file to write (default: DATA_DIR/rule_thresholds.json)"
    )
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("eval", help="precision/recall per rule and detector against labelled conversations")
    _add_paths(p)
    p.add_argument(
        "--labels",
        nargs="*",
        help="label JSONL files (default: the shipped streams/examples/labelled/expected.jsonl and seeds.jsonl)",
    )
    p.add_argument("--out", default=".turnwatch/eval", help="directory for report.json and plots/")
    p.add_argument(
        "--behaviours",
        action="store_true",
        help="PATH is a written counselling set (detectors/therapist/labelled/counselling_written.jsonl): "
        "score the therapist rules on its blind split",
    )
    p.add_argument(
        "--sessions",
        action="store_true",
        help="PATH is a folder of sessions with ratings.jsonl (detectors/therapist/labelled/sessions): how well "
        "the session-quality score separates high from low, and the low-quality line",
    )
    p.add_argument(
        "--verdicts",
        action="store_true",
        help="PATH is a `turnwatch verdicts export` file: per rule, judged alerts the current code raises again",
    )
    p.add_argument(
        "--dataset",
        choices=["counsel-chat", "sdcnl", "goemotions"],
        help="real-data mode: PATH is that dataset's file or directory; alerts per 100 real turns per rule",
    )
    p.add_argument(
        "--split",
        choices=["holdout", "all"],
        default="holdout",
        help="sdcnl and counsel-chat: the seeded hold-out the crisis head never trained on (default) or all",
    )
    p.add_argument(
        "--plot",
        action="store_true",
        help="with --dataset: draw the crisis precision/recall curve against the hand labels, thresholds marked",
    )
    p.set_defaults(handler=cmd_eval)

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
        "receiver",
        help="a small webhook receiver that verifies signatures and prints alerts "
        "(needs TURNWATCH_RECEIVER_SECRET or TURNWATCH_RECEIVER_SECRET_FILE)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080, help="port to listen on")
    p.set_defaults(handler=cmd_receiver)

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

    p = sub.add_parser("console", help="the reviewer console: live alerts, conversation timeline, verdicts")
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1, console_host)")
    p.add_argument("--port", type=int, default=None, help="port (default 6070, console_port)")
    p.set_defaults(handler=cmd_console)

    p = sub.add_parser("verdicts", help="reviewer verdicts: `verdicts export` writes them as an evaluation set")
    verdicts = p.add_subparsers(dest="verdicts_command", required=True, metavar="SUBCOMMAND")
    p = verdicts.add_parser(
        "export",
        help="judged alerts as JSONL: verdict, corrected severity/rule, reviewer, judged_at, note, alert and its "
        "stored turns (read by `eval --verdicts` and `train --verdicts`)",
    )
    p.add_argument(
        "--db",
        help="the console's store: a SQLAlchemy URL or a SQLite file path (default: console_db_url, else "
        "DATA_DIR/console.db); a missing SQLite store is an error, not an empty export",
    )
    p.add_argument("--out", default="-", help="file to write (default: standard output)")
    p.set_defaults(handler=cmd_verdicts_export)

    p = sub.add_parser(
        "check-config", help="validate settings, detector options and the delivery config (no models loaded)"
    )
    p.add_argument("--delivery", help="delivery config YAML (default: TURNWATCH_DELIVERY_CONFIG)")
    p.set_defaults(handler=cmd_check_config)

    p = sub.add_parser("routes", help="delivery routes: `routes test` prints the receivers an alert would reach")
    routes = p.add_subparsers(dest="routes_command", required=True, metavar="SUBCOMMAND")
    p = routes.add_parser("test", help="which receivers an alert of this detector, rule and severity reaches")
    p.add_argument("--detector", help="detector name, e.g. crisis (default: the rule's, crisis.method -> crisis)")
    p.add_argument("--rule", required=True, help="rule name, e.g. crisis.method")
    p.add_argument("--severity", required=True, help="info, warning, high or critical")
    p.add_argument("--delivery", help="delivery config YAML (default: TURNWATCH_DELIVERY_CONFIG)")
    p.set_defaults(handler=cmd_routes_test)

    p = sub.add_parser("dashboards", help="write the Grafana dashboards (grafana-foundation-sdk) as JSON")
    p.add_argument("--out", default="deploy/grafana/dashboards", help="directory to write them to")
    p.set_defaults(handler=cmd_dashboards)

    p = sub.add_parser("schemas", help="write the JSON Schemas and the AsyncAPI document")
    p.add_argument("--out", default="schemas", help="directory to write them to")
    p.set_defaults(handler=cmd_schemas)

    p = sub.add_parser("examples", help="the shipped example transcripts and their paths (for --example NAME)")
    p.set_defaults(handler=cmd_examples)

    from streams.tooling import silence_cli

    silence_cli.register(sub)
    _add_global_options(parser)
    return parser


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line a person can act on."""
    if isinstance(exc, TurnwatchError):
        message = str(exc)
    elif isinstance(exc, OSError):
        message = f"{exc.filename}: {exc.strerror.lower()}" if exc.filename and exc.strerror else str(exc)
    else:
        message = f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"
    return " ".join(message.split())


def _stdout_closed() -> bool:
    """Is standard output a pipe whose reader has gone (``| head``)? Its write end polls as an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no file descriptor (captured)
        return False


def _quit_on_closed_stdout() -> int:
    """The reader stopped reading: end quietly, as `yes | head` does. Standard output now points at
    devnull, so the interpreter's last flush cannot fail again (the Python docs' advice on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return SIGPIPE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not sys.stderr.isatty():  # model-loading progress bars only for people watching a terminal
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        try:
            _resolve_examples(args)
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's flush at exit
            return code
        except BrokenPipeError:
            if _stdout_closed():
                return _quit_on_closed_stdout()
            raise  # some other pipe or socket: an error like any other
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"turnwatch {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
