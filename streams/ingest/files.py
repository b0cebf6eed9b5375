"""Paths on disk into the records ``replay`` publishes (and ``parse`` prints)."""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.contracts import TurnEvent
from streams.errors import TranscriptFormatError
from streams.ingest.transcript import parse_transcript

TRANSCRIPT_SUFFIXES = {".txt", ".md", ".transcript"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/+-]+")


@dataclass(frozen=True)
class Record:
    """One message for ``turnwatch.turns``: the Kafka key and the JSON value, verbatim."""

    key: str | None
    value: bytes
    ts: datetime | None
    origin: str = ""  # "file:line" (JSONL) or "file turn N" (transcript), for messages about it


STDIN = "-"


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus transcript and JSONL files inside named directories; ``-`` is stdin."""
    files: list[Path] = []
    for raw in paths:
        if str(raw) == STDIN:
            files.append(Path(STDIN))
            continue
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TRANSCRIPT_SUFFIXES | JSONL_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


def conversation_id_for(path: Path, header_id: str | None) -> str:
    """Stable id: the transcript's own header id, else its file name without suffix."""
    raw = header_id or path.stem
    return _UNSAFE.sub("-", raw).strip("-._:@/+") or "conversation"


def turn_pause(text: str) -> timedelta:
    """A plausible time between turns: a few seconds plus reading/typing time."""
    return timedelta(seconds=4 + 0.35 * len(text.split()))


def transcript_events(path: Path, start: datetime = DEFAULT_START, text: str | None = None) -> list[TurnEvent]:
    text = path.read_text(encoding="utf-8") if text is None else text
    parsed = parse_transcript(text, source=str(path))
    conversation_id = conversation_id_for(path, parsed.header_id)
    events: list[TurnEvent] = []
    ts = start
    for index, turn in enumerate(parsed.turns):
        events.append(
            TurnEvent(
                event_id=f"{conversation_id}:{index:05d}",
                conversation_id=conversation_id,
                turn_index=index,
                role=turn.role,
                text=turn.text,
                ts=ts,
                meta=turn.meta,
            )
        )
        ts += turn_pause(turn.text)
    return events


def _jsonl_records(path: Path, handle: io.BufferedIOBase | None = None) -> Iterator[Record]:
    """JSONL lines go out verbatim, valid or not: the worker's validation decides."""
    with handle or path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            key, ts = None, None
            try:
                data = json.loads(line)
                if isinstance(data, dict):
                    key = data.get("conversation_id") if isinstance(data.get("conversation_id"), str) else None
                    ts = datetime.fromisoformat(data["ts"]) if isinstance(data.get("ts"), str) else None
            except (ValueError, RecursionError):
                pass  # the worker's validation dead-letters it with its reason
            yield Record(key=key, value=line, ts=ts, origin=f"{path}:{number}")


def is_jsonl(path: Path) -> bool:
    if path.suffix in JSONL_SUFFIXES:
        return True
    with path.open("rb") as handle:
        head = handle.read(64).lstrip()
    return head.startswith(b"{")


def _stdin_records(start: datetime) -> Iterator[Record]:
    """Standard input, JSONL or one transcript (its conversation id from its header, else "stdin")."""
    data = sys.stdin.buffer.read()
    source = Path("stdin")
    if data.lstrip().startswith(b"{"):
        yield from _jsonl_records(Path("<stdin>"), io.BytesIO(data))
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptFormatError("<stdin>: not UTF-8 text") from None
    yield from _transcript_records(source, transcript_events(source, start, text))


def _transcript_records(path: Path, events: list[TurnEvent]) -> Iterator[Record]:
    for event in events:
        yield Record(
            key=event.conversation_id, value=event.to_json(), ts=event.ts, origin=f"{path} turn {event.turn_index}"
        )


def read_records(paths: Iterable[str | Path], start: datetime = DEFAULT_START) -> Iterator[Record]:
    for path in expand_paths(paths):
        if str(path) == STDIN:
            yield from _stdin_records(start)
        elif is_jsonl(path):
            yield from _jsonl_records(path)
        else:
            try:
                events = transcript_events(path, start)
            except UnicodeDecodeError:
                raise TranscriptFormatError(f"{path}: not UTF-8 text") from None
            yield from _transcript_records(path, events)
