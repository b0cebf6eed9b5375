"""Parsers for the text layouts: plain speaker paragraphs and turn blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streams.errors import TranscriptFormatError

_HEADER = re.compile(r"^\s*#\s*Transcript\s+(?P<id>\S+)\s*$", re.IGNORECASE)
_SPEAKER = re.compile(
    r"^\s*\*{0,2}(?P<who>patient|therapist|system)\*{0,2}\s*:\s*\*{0,2}\s?(?P<rest>.*)$", re.IGNORECASE
)
_TURN_LINE = re.compile(r"^\s*---\s*Turn\s+(?P<n>\d+)\b[^-]*---\s*$", re.IGNORECASE)
_INJECTION = re.compile(
    r"^\s*---\s*\[\s*SYSTEM INJECTION at Turn\s+(?P<n>\d+)\s*\]\s*:?\s*(?P<note>.*?)\s*---\s*$", re.IGNORECASE
)
_BLOCK_LABEL = re.compile(
    r"^\s*\*{0,2}(?P<label>therapist thinking|therapist answer|patient)\*{0,2}\s*:\s*\*{0,2}\s?(?P<rest>.*)$",
    re.IGNORECASE,
)


@dataclass
class ParsedTurn:
    role: str
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedTranscript:
    header_id: str | None
    turns: list[ParsedTurn]


def _join(lines: list[str]) -> str:
    """Paragraphs and list items keep their line breaks; outer blank lines go."""
    return "\n".join(line.rstrip() for line in lines).strip("\n").strip()


def is_turn_blocks(text: str) -> bool:
    return any(_TURN_LINE.match(line) for line in text.splitlines())


def parse_transcript(text: str, source: str = "<text>") -> ParsedTranscript:
    """Parse layout 1, 2 or 3 (detected from the text)."""
    lines = text.splitlines()
    header_id = None
    for line in lines:
        if line.strip():
            match = _HEADER.match(line)
            header_id = match.group("id") if match else None
            break
    body = [line for line in lines if not _HEADER.match(line)] if header_id else lines
    turns = _parse_blocks(body, source) if is_turn_blocks(text) else _parse_plain(body, source)
    if not turns:
        raise TranscriptFormatError(
            f"{source}: no turns found (expected 'Patient:'/'Therapist:' labels or '--- Turn N ---' blocks)"
        )
    return ParsedTranscript(header_id=header_id, turns=turns)


def _parse_plain(lines: list[str], source: str) -> list[ParsedTurn]:
    turns: list[ParsedTurn] = []
    role: str | None = None
    buffer: list[str] = []
    for number, line in enumerate(lines, start=1):
        match = _SPEAKER.match(line)
        if match:
            if role is not None:
                turns.append(ParsedTurn(role, _join(buffer)))
            role, buffer = match.group("who").lower(), [match.group("rest")]
        elif role is not None:
            buffer.append(line)
        elif line.strip():
            raise TranscriptFormatError(f"{source}:{number}: text before the first speaker label")
    if role is not None:
        turns.append(ParsedTurn(role, _join(buffer)))
    return turns


class _Block:
    """Collects one ``--- Turn N ---`` block: injected note, reasoning, answer, patient text."""

    def __init__(self, note: str | None = None) -> None:
        self.note = note
        self.sections: dict[str, list[str]] = {}
        self.current: str | None = None

    def start(self, label: str, rest: str) -> None:
        self.current = label
        self.sections.setdefault(label, []).append(rest)

    def add(self, line: str) -> None:
        if self.current is not None:
            self.sections[self.current].append(line)

    def accepts(self, label: str) -> bool:
        # The answer ends only at "Patient:"; the patient's text only at the next block.
        if self.current == "patient":
            return False
        return self.current != "therapist answer" or label == "patient"

    def turns(self) -> list[ParsedTurn]:
        out: list[ParsedTurn] = []
        thinking = _join(self.sections.get("therapist thinking", []))
        if "therapist answer" in self.sections or "therapist thinking" in self.sections:
            meta = {"therapist_reasoning": thinking} if thinking else {}
            out.append(ParsedTurn("therapist", _join(self.sections.get("therapist answer", [])), meta))
        if "patient" in self.sections:
            out.append(ParsedTurn("patient", _join(self.sections["patient"])))
        if self.note:
            if out:
                out[0].meta["injected_note"] = self.note
            else:
                out.append(ParsedTurn("system", "", {"injected_note": self.note}))
        return out


def _parse_blocks(lines: list[str], source: str) -> list[ParsedTurn]:
    turns: list[ParsedTurn] = []
    block: _Block | None = None
    pending_note: str | None = None
    for number, line in enumerate(lines, start=1):
        injection = _INJECTION.match(line)
        if injection:
            note = injection.group("note").strip()
            if block is not None and not block.sections:
                block.note = f"{block.note}\n{note}" if block.note else note
            else:
                pending_note = f"{pending_note}\n{note}" if pending_note else note
            continue
        if _TURN_LINE.match(line):
            if block is not None:
                turns.extend(block.turns())
            block, pending_note = _Block(pending_note), None
            continue
        if block is None:
            if line.strip():
                raise TranscriptFormatError(f"{source}:{number}: text before the first '--- Turn N ---' line")
            continue
        label = _BLOCK_LABEL.match(line)
        if label and block.accepts(label.group("label").lower()):
            block.start(label.group("label").lower(), label.group("rest"))
        else:
            block.add(line)
    if block is not None:
        turns.extend(block.turns())
    if pending_note:
        turns.append(ParsedTurn("system", "", {"injected_note": pending_note}))
    return turns
