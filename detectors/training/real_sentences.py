"""Real sentences by reference: counsel-chat questions and SDCNL posts, never copied.

Labelled real sentences are stored as a reference plus a short hash, not as text:
``cc:<questionID>:<field>:<start>-<end>`` (field ``t`` = questionTitle, ``q`` = questionText,
``a<k>`` = the k-th answer to the question in file order) or ``sdcnl:<row>:<field>:<start>-<end>`` (field ``t`` = title, ``s`` = selftext). The text is
read from ``../shared/data`` when a labelled set is loaded; a hash that no longer matches says
the data changed under the label.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from detectors.crisis.language import sentence_spans

COUNSEL_CHAT = "counsel-chat/counsel_chat.csv"
SDCNL = "sdcnl/training-set.csv"


@dataclass(frozen=True)
class RealSentence:
    ref: str
    text: str

    @property
    def digest(self) -> str:
        return sentence_digest(self.text)


def sentence_digest(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:10]


def _rows(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(10**8)
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


class RealText:
    """The fields that real sentences come from, loaded once from a data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._fields: dict[str, str] | None = None

    @property
    def fields(self) -> dict[str, str]:
        if self._fields is None:
            fields: dict[str, str] = {}
            answers: dict[str, int] = {}
            for row in _rows(self.data_dir / COUNSEL_CHAT):
                question = row["questionID"]
                fields.setdefault(f"cc:{question}:t", row["questionTitle"] or "")
                fields.setdefault(f"cc:{question}:q", row["questionText"] or "")
                answers[question] = answers.get(question, -1) + 1
                fields[f"cc:{question}:a{answers[question]}"] = row["answerText"] or ""
            for number, row in enumerate(_rows(self.data_dir / SDCNL)):
                fields[f"sdcnl:{number}:t"] = row["title"] or ""
                fields[f"sdcnl:{number}:s"] = row["selftext"] or ""
            self._fields = fields
        return self._fields

    def sentences(self, prefix: str, field: str | None = None) -> Iterator[RealSentence]:
        """Every sentence of the fields whose key starts with ``prefix`` (``cc:`` or ``sdcnl:``),
        only of fields named ``field`` (``q``, ``t``, ``a``: any answer) when given."""
        for key, text in self.fields.items():
            name = key.rsplit(":", 1)[1]
            if key.startswith(prefix) and (field is None or name == field or (field == "a" and name[:1] == "a")):
                for start, end in sentence_spans(text):
                    yield RealSentence(f"{key}:{start}-{end}", text[start:end])

    def resolve(self, ref: str) -> str:
        key, _, span = ref.rpartition(":")
        start, end = (int(x) for x in span.split("-"))
        try:
            return self.fields[key][start:end]
        except KeyError:
            raise KeyError(f"{ref}: no such field in {self.data_dir}") from None
