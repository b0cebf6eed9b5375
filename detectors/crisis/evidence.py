"""A patient turn's crisis evidence as named channels, each with the sentence that carries it.

Channels (values in [0, 1]):

- ``risk:<kind>``: the sentence head's P(current <kind>) of the turn's most likely sentence for it
  (passive ideation, active ideation, method, intent or plan, preparatory, self-harm, harm to
  others, abuse or danger);
- ``history``: the head's P(own risk told as past);
- ``construct:<key>``: a construct of the Suicide Risk Lexicon (hopelessness, burdensomeness,
  lethal means, loneliness, …) in a sentence the writer says about themself, now: 1 for a
  prototypical token, 0.5 for another validated one. Sentences about someone else, in the past,
  quoted or hypothetical carry no construct evidence.

Besides channels, the turn's distinct risk sentences (P(current) ≥ ``RISK_SENTENCE_FLOOR``) are
kept with a signature of their words, so that the conversation can tell a new piece of risk from
the same sentence said again. A clear safety statement in a turn without new risk is noted: it
resets what the conversation had gathered (``detectors.crisis.conversation``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.crisis.language import KINDS, PAST, in_plain_words, literal_as_written, normalise, sentence_spans
from detectors.crisis.lexicon import Lexicon

RISK_SENTENCE_FLOOR = 0.1
# The lexicon's constructs that bear on suicide risk (ideation, means, self-injury, the interpersonal
# theory's burdensomeness and thwarted belonging, hopelessness, entrapment, defeat and shame, exposure,
# danger from others). The lexicon's other constructs (work, money, identity, symptoms such as anxiety)
# describe a life, not a risk, and as evidence they only added noise across long conversations.
RISK_CONSTRUCTS: tuple[str, ...] = (
    "passive_suicidal_ideation",
    "active_suicidal_ideation_suicidal_planning",
    "lethal_means_for_suicide",
    "direct_self_injury",
    "other_suicidal_language",
    "suicide_exposure",
    "hospitalization",
    "loneliness_isolation",
    "burdensomeness",
    "shame_self_disgust_worthlessness",
    "defeat_feeling_like_a_failure",
    "entrapment_desire_to_escape",
    "hopelessness",
    "existential_meaninglessness_purposelessness",
    "physical_abuse_violence",
    "sexual_abuse_harassment",
)
_FIRST_PERSON_SUBJECT = re.compile(r"\b(i|i'm|im|i've|ive|i'd|i'll|myself|my life|me)\b")
_NOT_OWN_NOW = re.compile(
    r"\b(he|she|they|his|her|their|someone|somebody|my (friend|mum|mom|dad|brother|sister|son|daughter|partner|"
    r"husband|wife|boyfriend|girlfriend|cousin|aunt|uncle|grandma|grandpa))\b.{0,40}\b(feels?|felt|is|was|has|had|"
    r"wants?|wanted|said|says|thinks?|thought)\b"
    r"|\b(if|what if|would|hypothetically|imagine|in (a|the) (movie|book|show|story))\b|[\"“”]"
)
_SAFETY = re.compile(
    r"\b(i'm|i am|i feel|feeling) (safe|okay now|ok now|much better|better now)\b"
    r"|\bi (won't|will not|would never|wouldn't) (hurt|harm|kill) myself\b"
    r"|\b(i'm|i am) not (going to|gonna) (hurt|harm|kill) myself\b"
    r"|\bthe (thoughts|urges) (have|has) (passed|gone|stopped|eased)\b"
    r"|\bi (don't|do not) want to die( anymore)?\b"
    r"|\bi (gave|handed) (the|my) (pills|meds|medication|razors?|blades?|gun) (to|away)\b"
)


@dataclass(frozen=True)
class Piece:
    """One channel's value in a turn and the character span of the sentence that carries it."""

    channel: str
    value: float
    start: int
    end: int

    def to_list(self) -> list:
        return [self.channel, round(self.value, 4), self.start, self.end]

    @classmethod
    def from_list(cls, data: list) -> Piece:
        return cls(data[0], float(data[1]), int(data[2]), int(data[3]))


def signature(sentence: str) -> str:
    """The sentence's content words, sorted: the same sentence said again has the same signature."""
    return " ".join(sorted({w for w in re.findall(r"[a-z']+", normalise(sentence)) if len(w) > 2}))


def own_and_now(sentence: str) -> bool:
    """The writer about themself, now: a first-person subject, not someone else's state, not past,
    hypothetical or quoted."""
    text = normalise(sentence)
    return bool(_FIRST_PERSON_SUBJECT.search(text)) and not _NOT_OWN_NOW.search(text) and not PAST.search(text)


_DOUBT = re.compile(
    r"\b(not sure|unsure|don't know|do not know|if|whether|maybe|might|doubt|pretend\w*|supposed to|"
    r"tell (you|them|people)|say)\b|\bnot (safe|okay|ok|better)\b"
)


def is_safety_statement(text: str) -> bool:
    """A sentence that clearly says the writer is safe now, with no doubt in it."""
    for start, end in sentence_spans(text):
        sentence = normalise(text[start:end])
        if _SAFETY.search(sentence) and not _DOUBT.search(sentence):
            return True
    return False


def construct_pieces(text: str, lexicon: Lexicon | None = None) -> list[Piece]:
    """The lexicon's constructs in the turn's own-and-now sentences, the strongest sentence each."""
    lexicon = lexicon or Lexicon.load()
    best: dict[str, Piece] = {}
    for start, end in sentence_spans(text):
        sentence = text[start:end]
        if not own_and_now(sentence):
            continue
        for match in lexicon.matches(literal_as_written(in_plain_words(sentence))):
            if match.construct not in RISK_CONSTRUCTS:
                continue
            value = 1.0 if match.prototypical else 0.5
            channel = f"construct:{match.construct}"
            if channel not in best or value > best[channel].value:
                best[channel] = Piece(channel, value, start, end)
    return list(best.values())


def risk_pieces(spans: Sequence[tuple[int, int]], probabilities: np.ndarray) -> list[Piece]:
    """From the sentence head's class probabilities (rows in ``spans`` order, columns none, history,
    then ``KINDS``): the best sentence per kind and for history."""
    best: dict[str, Piece] = {}
    for (start, end), row in zip(spans, probabilities):
        for column, channel in enumerate(("history", *(f"risk:{kind}" for kind in KINDS)), start=1):
            value = float(row[column])
            if value >= 0.01 and (channel not in best or value > best[channel].value):
                best[channel] = Piece(channel, value, start, end)
    return list(best.values())


def turn_evidence(
    text: str, spans: Sequence[tuple[int, int]], probabilities: np.ndarray, review: float
) -> tuple[tuple[Piece, ...], bool]:
    """A turn's pieces (channels and distinct risk sentences) and whether it is a safety statement:
    one whose other sentences hold nothing at the review threshold (a denial scores risk words too)."""
    current = probabilities[:, 2:].sum(axis=1) if len(spans) else np.zeros(0)
    pieces = [*risk_pieces(spans, probabilities), *construct_pieces(text)]
    pieces += [
        Piece("sentence", float(p), start, end) for (start, end), p in zip(spans, current) if p >= RISK_SENTENCE_FLOOR
    ]
    risky = [(a, b) for (a, b), p in zip(spans, current) if p >= review and not is_safety_statement(text[a:b])]
    safety = is_safety_statement(text) and not risky
    return tuple(pieces), safety
