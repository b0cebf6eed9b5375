"""The ``turnwatch`` command: one entry point, a subcommand per job."""

from __future__ import annotations

import argparse
import os
import select
import sys

# The emotion head's matmuls are tiny; OpenBLAS threads only compete with the encoder's own
# thread pool for the same cores (measured: 40 % slower micro-batches). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from collections.abc import Callable, Sequence

from streams.errors import TurnwatchError
from streams.tooling.cli_support import CONFIG_HELP, DEBUG_HELP, resolve_examples

Handler = Callable[[argparse.Namespace], int]
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a command stopped by a closed pipe


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


def build_parser() -> argparse.ArgumentParser:
    from streams.tooling import (
        bench_commands,
        config_commands,
        eval_commands,
        run_commands,
        silence_cli,
        transcript_commands,
    )

    parser = argparse.ArgumentParser(
        prog="turnwatch", description="Real-time safety and quality monitor for AI therapy conversations."
    )
    parser.add_argument("--config", help=CONFIG_HELP)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    parser.add_argument("--version", action="version", version=f"turnwatch {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for commands in (run_commands, transcript_commands, eval_commands, bench_commands, config_commands, silence_cli):
        commands.register(sub)
    _add_global_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not sys.stderr.isatty():  # model-loading progress bars only for people watching a terminal
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        try:
            resolve_examples(args)
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
