"""Transcripts and JSONL files into TurnEvents (GUIDE §4).

Layouts: plain speaker paragraphs (1), the same under a ``# Transcript <id>`` header (2),
turn blocks with thinking/answer sections and system injections (3), and JSONL of
TurnEvents (4). ``read_records`` yields exactly what ``turnwatch replay`` publishes.
"""

from streams.ingest.files import Record, expand_paths, read_records
from streams.ingest.transcript import ParsedTurn, parse_transcript

__all__ = ["ParsedTurn", "Record", "expand_paths", "parse_transcript", "read_records"]
