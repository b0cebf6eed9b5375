"""Crisis risk as a property of the conversation: evidence gathered over patient turns, decaying,
combined by a calibrated model.

People rarely say it in one sentence: hopelessness in one turn, being a burden in the next, saved-up
pills later, each below the line on its own. ``ConversationEvidence`` (the crisis detector's memory,
kept in the conversation state) holds, per evidence channel (``detectors.crisis.evidence``), the
strongest piece seen so far with the turn and words that carried it, and the three strongest
*distinct* risk sentences. Every held piece decays by ``DECAY_PER_PATIENT_TURN`` for each later
patient turn and halves every ``HALF_LIFE_HOURS`` of conversation time; a new piece replaces a
held one only when it is stronger than what is left of it. So:

- the same moderate sentence said again is not new evidence: its channel keeps its maximum and
  its signature is already among the distinct sentences;
- someone else's risk, supportive talk and the past carry little: the sentence head gives them a
  low P(current), and lexicon constructs count only in sentences the writer says about themself,
  now;
- a clear safety statement in a turn with no new risk clears what was gathered before it.

``ConversationModel`` is a logistic model over the decayed channels, fitted on real posts labelled
by hand (``conversation_training``): a post is a conversation said in pieces, sentence after
sentence. Its probability is compared with a page and a review threshold chosen there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.crisis.evidence import RISK_CONSTRUCTS, Piece, signature
from detectors.crisis.language import KINDS
from detectors.findings import excerpt

DECAY_PER_PATIENT_TURN = 0.85
HALF_LIFE_HOURS = 24.0
DISTINCT_SENTENCES = 3
QUOTE_CHARS = 160
DEFAULT_MODEL = Path(__file__).resolve().parent / "heads" / "conversation.json"
RANK_CHANNELS = tuple(f"rank:{n}" for n in range(1, DISTINCT_SENTENCES + 1))


@dataclass
class Held:
    """A piece of evidence the conversation holds: its strength when said, where, and its words."""

    channel: str
    value: float
    turn: int
    ordinal: int  # the patient turn's number in the conversation (decay counts patient turns)
    ts: float | None
    quote: str
    signature: str = ""

    def to_list(self) -> list:
        return [self.channel, round(self.value, 4), self.turn, self.ordinal, self.ts, self.quote, self.signature]

    @classmethod
    def from_list(cls, data: list) -> Held:
        return cls(data[0], float(data[1]), int(data[2]), int(data[3]), data[4], data[5], data[6])


def decay(held: Held, ordinal: int, ts: float | None) -> float:
    """What is left of a held piece at patient turn ``ordinal`` and time ``ts``."""
    value = held.value * DECAY_PER_PATIENT_TURN ** max(0, ordinal - held.ordinal)
    if ts is not None and held.ts is not None and ts > held.ts:
        value *= 0.5 ** ((ts - held.ts) / (HALF_LIFE_HOURS * 3600))
    return value


@dataclass
class ConversationEvidence:
    """The crisis detector's memory of one conversation."""

    channels: dict[str, Held] = field(default_factory=dict)
    distinct: list[Held] = field(default_factory=list)  # strongest distinct risk sentences, strongest first
    patient_turns: int = 0
    last_ts: float | None = None
    paged_at: int | None = None  # a turn that paged by a single sentence
    reset_at: int | None = None  # the last turn whose safety statement cleared the evidence

    def add(self, turn: int, text: str, ts: float | None, pieces: Sequence[Piece], safety: bool) -> None:
        """Take in one patient turn's pieces (or its safety statement)."""
        self.patient_turns += 1
        ordinal = self.patient_turns
        if ts is not None:
            self.last_ts = ts
        if safety:
            self.channels.clear()
            self.distinct.clear()
            self.reset_at = turn
            return
        for piece in pieces:
            quote = excerpt(text[piece.start : piece.end], QUOTE_CHARS)
            held = Held(piece.channel, piece.value, turn, ordinal, ts, quote)
            if piece.channel == "sentence":
                self._add_distinct(held, text[piece.start : piece.end], ordinal, ts)
                continue
            current = self.channels.get(piece.channel)
            if current is None or piece.value >= decay(current, ordinal, ts):
                self.channels[piece.channel] = held

    def _add_distinct(self, held: Held, sentence: str, ordinal: int, ts: float | None) -> None:
        held.signature = signature(sentence)
        same = next((h for h in self.distinct if h.signature == held.signature), None)
        if same is not None:
            if held.value < decay(same, ordinal, ts):
                return
            self.distinct.remove(same)
        self.distinct.append(held)
        self.distinct.sort(key=lambda h: -decay(h, ordinal, ts))
        del self.distinct[DISTINCT_SENTENCES:]

    def values(self) -> dict[str, tuple[float, Held]]:
        """Every channel's decayed value now, with the piece that carries it."""
        ordinal, ts = self.patient_turns, self.last_ts
        out = {name: (decay(held, ordinal, ts), held) for name, held in self.channels.items()}
        ranked = sorted(((decay(h, ordinal, ts), h) for h in self.distinct), key=lambda pair: -pair[0])
        for name, pair in zip(RANK_CHANNELS, ranked):
            out[name] = pair
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "c": [held.to_list() for held in self.channels.values()],
            "d": [held.to_list() for held in self.distinct],
            "n": self.patient_turns,
            "ts": self.last_ts,
            "paged": self.paged_at,
            "reset": self.reset_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationEvidence:
        held = [Held.from_list(item) for item in data.get("c", ())]
        return cls(
            {h.channel: h for h in held},
            [Held.from_list(item) for item in data.get("d", ())],
            data.get("n", 0),
            data.get("ts"),
            data.get("paged"),
            data.get("reset"),
        )


@dataclass(frozen=True)
class Contribution:
    channel: str
    value: float
    held: Held
    weight: float  # what it adds to the logit, against not having been said


class ConversationModel:
    """Logistic regression over the decayed channels (standardised), with its two thresholds."""

    def __init__(
        self,
        channels: Sequence[str],
        mean: Sequence[float],
        scale: Sequence[float],
        coef: Sequence[float],
        intercept: float,
        page: float,
        review: float,
        version: str = "",
    ) -> None:
        self.channels = tuple(channels)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        if not 0.0 < review <= page < 1.0:
            raise ValueError(f"conversation thresholds need 0 < review <= page < 1, got review {review}, page {page}")
        self.page, self.review = float(page), float(review)
        self.version = version
        self._index = {name: i for i, name in enumerate(self.channels)}

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL) -> ConversationModel:
        meta = json.loads(Path(path).read_text())
        return cls(
            meta["channels"],
            meta["mean"],
            meta["scale"],
            meta["coef"],
            meta["intercept"],
            meta["thresholds"]["page"],
            meta["thresholds"]["review"],
            meta.get("version", ""),
        )

    def with_thresholds(self, page: float | None = None, review: float | None = None) -> ConversationModel:
        """A copy with other operating points (a clinical lead's choice; see ``turnwatch eval --plot``)."""
        return ConversationModel(
            self.channels,
            self.mean,
            self.scale,
            self.coef,
            self.intercept,
            self.page if page is None else page,
            self.review if review is None else review,
            self.version,
        )

    def vector(self, values: dict[str, tuple[float, Held]]) -> np.ndarray:
        return channel_vector(self.channels, values)

    def probability(self, values: dict[str, tuple[float, Held]]) -> float:
        z = float(((self.vector(values) - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def contributions(self, values: dict[str, tuple[float, Held]], floor: float = 0.1) -> list[Contribution]:
        """The held pieces that raise the risk, strongest first: each one's addition to the logit over
        not having been said at all (value × weight ≥ ``floor``)."""
        out = []
        for name, (value, held) in values.items():
            i = self._index.get(name)
            if i is None or value <= 0:
                continue
            weight = float(value / self.scale[i] * self.coef[i])
            if weight >= floor:
                out.append(Contribution(name, value, held, weight))
        return sorted(out, key=lambda c: -c.weight)


def default_channels() -> tuple[str, ...]:
    """Every channel a model is fitted over: distinct risk sentences, history, each kind, each construct."""
    return (
        *RANK_CHANNELS,
        "history",
        *(f"risk:{kind}" for kind in KINDS),
        *(f"construct:{key}" for key in RISK_CONSTRUCTS),
    )


def channel_vector(channels: Sequence[str], values: dict[str, tuple[float, Held]]) -> np.ndarray:
    """The decayed values in ``channels`` order (a channel with no evidence is 0)."""
    index = {name: i for i, name in enumerate(channels)}
    x = np.zeros(len(channels))
    for name, (value, _) in values.items():
        if name in index:
            x[index[name]] = value
    return x
