"""What the command modules share: settings for a command, consoles for standard output, reading
transcript paths and shipped examples."""

from __future__ import annotations

import argparse
import errno
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from streams.errors import TurnwatchError
from streams.settings import load_checked_settings
from streams.vocabulary import SEVERITIES

SEVERITY_CHOICES = list(SEVERITIES)
CONFIG_HELP = "YAML settings file (also TURNWATCH_CONFIG); env TURNWATCH_* overrides it"
DEBUG_HELP = "show the full traceback when a command fails"
UNWRAPPED = 10_000  # columns of piped output: a row stays one line for grep, cut and files


def settings_for(args: argparse.Namespace, **overrides):
    return load_checked_settings(getattr(args, "config", None), **overrides)


@cache
def stdout_console_class() -> type:
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1, which `scan --fail-on` means as "an alert"; main() ends quietly.
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return StdoutConsole


def stdout_console(min_width: int = 0, **options: Any):
    """A rich Console on standard output. On a terminal: its width (at least ``min_width``).
    In a pipe or file: nothing wraps (rich would wrap at 80 columns)."""
    console_class = stdout_console_class()
    console = console_class(**options)
    if not console.is_terminal:
        return console_class(width=UNWRAPPED, soft_wrap=True, **options)
    if console.width < min_width:
        console.width = min_width
    return console


def stderr_console():
    """``stdout_console`` on standard error: progress and summaries that must not wrap in a log file either."""
    return stdout_console(stderr=True)


def start_time(args: argparse.Namespace) -> datetime | None:
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


def read_paths(args: argparse.Namespace) -> list:
    from streams.ingest.files import DEFAULT_START, read_records

    records = list(read_records(args.paths, start=start_time(args) or DEFAULT_START))
    if not records:
        raise TurnwatchError(
            f"no turns in {' '.join(args.paths)}: expected transcripts (.txt, .md, .transcript) "
            "or JSONL turn events (.jsonl, .ndjson), or - for standard input"
        )
    return records


def example_path(name: str) -> Path:
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


def resolve_examples(args: argparse.Namespace) -> None:
    """--example NAME adds that shipped transcript to the command's paths."""
    examples = getattr(args, "example", None) or []
    if examples:
        args.paths = [*args.paths, *(str(example_path(name)) for name in examples)]
    needs_paths = getattr(args, "needs_paths", False)  # or a function of the other arguments
    if (needs_paths(args) if callable(needs_paths) else needs_paths) and not args.paths:
        raise TurnwatchError(
            "name what to read: PATH... (transcripts, JSONL, directories, - for standard input) or --example NAME "
            "(`turnwatch examples` lists the shipped ones)"
        )


def add_example_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--example",
        action="append",
        metavar="NAME",
        help="a shipped example transcript (repeatable; `turnwatch examples` lists them), found inside the package",
    )


def add_path_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="transcripts (.txt/.md), JSONL files or directories; - reads standard input",
    )
    add_example_option(parser)
    parser.add_argument(
        "--start", help="RFC 3339 time of each transcript's first turn (default 2026-01-01T00:00:00+00:00)"
    )
    parser.set_defaults(needs_paths=True)
