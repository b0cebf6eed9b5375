"""Commands on transcripts: parse them, replay them to a broker, scan them in-process, find the shipped ones."""

from __future__ import annotations

import argparse
import sys

from streams.errors import TurnwatchError
from streams.tooling.cli_support import (
    SEVERITY_CHOICES,
    add_path_arguments,
    read_paths,
    settings_for,
    stderr_console,
    stdout_console,
)


def cmd_parse(args: argparse.Namespace) -> int:
    records = read_paths(args)
    if args.format == "table":
        from streams.tooling.alert_render import print_turns

        print_turns(records, stdout_console(120))
        return 0
    out = sys.stdout.buffer
    for record in records:
        out.write(record.value + b"\n")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from streams.ingest.replay import replay
    from streams.kafka.probe import require_broker
    from streams.kafka.security import kafka_python_options
    from streams.kafka.topics import ensure_topics

    settings = settings_for(args, broker=args.broker)
    if settings.broker is None:
        raise TurnwatchError("replay needs a broker: pass --broker HOST:PORT or set TURNWATCH_BROKER")
    records = read_paths(args)
    require_broker(settings.broker)
    console = stderr_console()
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

    from detectors.findings import Severity
    from streams.monitor.build import build_pipeline
    from streams.tooling.alert_render import print_alert
    from streams.tooling.scan import scan_with_records

    settings = settings_for(args)
    records = read_paths(args)
    pipeline = build_pipeline(settings)
    shown_from = Severity.parse(args.min_severity)
    fail_at = Severity.parse(args.fail_on) if args.fail_on else None
    counts: Counter[str] = Counter()
    dead_by_file: Counter[str] = Counter()
    table = stdout_console(highlight=False)
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
    stderr_console().print(", ".join(f"{name}: {n}" for name, n in sorted(counts.items())))
    if dead_by_file and not counts["turns"]:
        raise TurnwatchError(
            f"no valid turn event in {', '.join(dead_by_file)}: every record was dead-lettered (reasons above); "
            "fix the input, or check it is turn-event JSONL or a transcript"
        )
    if fail_at is not None and worst is not None and worst >= fail_at:
        print(f"turnwatch scan: an alert at {worst.label} (--fail-on {fail_at.label})", file=sys.stderr)
        return 1
    return 0


def cmd_examples(args: argparse.Namespace) -> int:
    from streams.examples import example_paths

    paths = example_paths()
    width = max(len(path.stem) for path in paths)
    for path in paths:
        print(f"{path.stem:<{width}}  {path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="publish transcripts or JSONL to the turns topic with kafka-python")
    add_path_arguments(p)
    p.add_argument("--broker", help="Kafka bootstrap HOST:PORT (or TURNWATCH_BROKER)")
    p.add_argument("--speed", type=float, default=None, help="real-time pacing factor (default: as fast as possible)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser("parse", help="print the TurnEvents a transcript becomes, as JSONL (what replay sends)")
    add_path_arguments(p)
    p.add_argument(
        "--format",
        choices=["jsonl", "table"],
        default="jsonl",
        help="jsonl: the events verbatim (default); table: conversation, turn, role and text, for people",
    )
    p.set_defaults(handler=cmd_parse)

    p = sub.add_parser("scan", help="run the detectors in-process over transcripts or JSONL; print the alerts")
    add_path_arguments(p)
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

    p = sub.add_parser("examples", help="the shipped example transcripts and their paths (for --example NAME)")
    p.set_defaults(handler=cmd_examples)
