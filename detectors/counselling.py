"""What a therapist answer does, sentence by sentence: a learned counselling-behaviour signal.

Each sentence of a therapist answer is read in context (its tokens pooled from the one encoder
pass over the whole answer, ``Encoder.encode_with_spans``) and scored by a head trained on
counsel-chat answer sentences labelled by hand and sentences written for turnwatch
(``turnwatch train counselling``). The head outputs a calibrated probability for one behaviour
per sentence:

- consistent with good counselling: ``reflection`` (the patient's own words and feelings,
  their harsh self-talk included, said back), ``empathy``, ``affirmation``, ``open_question``,
  ``closed_question``, ``permission_seeking``, ``information``, ``suggestion`` (hedged,
  autonomy-supporting advice), ``neutral``;
- inconsistent: ``directing`` (unhedged commands and advice), ``confronting``, ``warning``
  (threatened consequences), ``moralising``, ``blaming_shaming`` (blame, contempt and rhetorical
  accusations aimed at the patient or their choices, in role-play too) and ``minimising``.

An answer's behaviours are the strongest sentence for each behaviour (``Behaviours``). The rules
in ``detectors.therapist`` combine them with the conversation: the patient's distress, what
they asked for, whether a role-play they asked for is running.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from detectors.crisis.language import normalise, sentence_spans
from detectors.encoder import DIMENSIONS
from detectors.features import Behaviours, BehaviourSentence
from detectors.heads_io import HEADS_DIR, Layers, load_head, member_logits, softmax

CONSISTENT: tuple[str, ...] = (
    "reflection",
    "empathy",
    "affirmation",
    "open_question",
    "closed_question",
    "permission_seeking",
    "information",
    "suggestion",
    "neutral",
)
INCONSISTENT: tuple[str, ...] = ("directing", "confronting", "warning", "moralising", "blaming_shaming", "minimising")
BEHAVIOURS: tuple[str, ...] = CONSISTENT + INCONSISTENT
ACKNOWLEDGING: tuple[str, ...] = ("reflection", "empathy", "affirmation")
DEFAULT_HEAD = HEADS_DIR / "counselling.npz"
DEFAULT_BAR = 0.5
KEPT_PROBABILITY = 0.15  # behaviours below this in every sentence are not kept in state
MAX_SENTENCES = 24  # the first sentences of a very long answer are judged; the rest are not

_FLAG_PATTERNS: dict[str, re.Pattern] = {
    "you": re.compile(r"\b(you|your|yourself|you're|you've|you'll|u)\b"),
    "i": re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my)\b"),
    "question": re.compile(r"\?\s*$"),
    "imperative": re.compile(
        r"^(\W*\d+[.)]\s*)?(please |just |now )?(try|make|stop|don't|do|go|get|take|write|start|keep|be|let|ask|tell|"
        r"call|remember|think|focus|give|put|set|find|talk|leave|quit|avoid|never|always)\b"
    ),
    "obligation": re.compile(r"\byou (really )?(should|need to|must|have to|ought to|had better|'d better)\b"),
    "hedge": re.compile(
        r"\b(might|may|could|perhaps|maybe|consider|one option|if you('d| would) like|it may help|you can)\b"
    ),
    "consequence": re.compile(
        r"\bif you (don't|do not|keep|continue|carry on|never)\b|\b(or else|otherwise|you('ll| will) (end up|lose|regret))\b"
    ),
    "reflective_opener": re.compile(
        r"^(it sounds like|sounds like|so you|you said|you called yourself|you('ve| have) been|i hear|it seems|"
        r"what i'm hearing|you're telling me|when you say)\b"
    ),
    "rhetorical": re.compile(
        r"^(how could you|what kind of|why would you|who (does|would)|do you (ever|even|really) (think|care))\b"
    ),
    "hindsight_blame": re.compile(
        r"\b(if you('d| had)|you should(n't)? have|you could have|you (didn't|couldn't|never|don't) even|you chose|"
        r"your (own )?(choice|fault|doing)|you made (your|this|that|it)|you let (it|this|them|her|him|everyone|us|me)|"
        r"on your end|you knew|you brought)\b"
    ),
    "judgement_word": re.compile(
        r"\b(selfish|lazy|irresponsible|ungrateful|careless|weak|pathetic|immature|spoil(ed|t)|entitled|disrespectful|"
        r"shameful|disgrac\w*|embarrass\w*|let (us|me|them|everyone|her|him|your \w+) down|excuses?|not (exactly )?smart|"
        r"stupid|foolish|ridiculous|wrong)\b"
    ),
    "sarcasm": re.compile(
        r"\b(some (friend|mother|mom|mum|father|dad|parent|partner|son|daughter|wife|husband)|great job|nice (going|work)|"
        r"well done|congratulations|i suppose|must be nice|good for you|of course you did|typical)\b"
    ),
    "comparison": re.compile(
        r"\b(plenty of|other (people|mothers|parents|kids|families)|most people|anyone else|everyone else|at your age)\b"
    ),
    "roleplay_marker": re.compile(r"\((as|in character|stepping out)\b|\b(in character|stepping out of|out of role)\b"),
}
FLAG_NAMES: tuple[str, ...] = (*_FLAG_PATTERNS, "short")


_BLAME_MARKERS = ("hindsight_blame", "judgement_word", "sarcasm", "rhetorical")
_EXPLORATORY = re.compile(r"^(what|how|when|where|which|tell me|i'm curious|i wonder)\b[^?]*\?$")


def exploratory_question(sentence: str) -> bool:
    """An open, curious question ("What do you imagine would happen if…?") with none of the
    marks of blame dressed as a question (hindsight, judgement words, sarcasm, "how could you")."""
    text = normalise(sentence).strip()
    return bool(_EXPLORATORY.search(text)) and not any(_FLAG_PATTERNS[name].search(text) for name in _BLAME_MARKERS)


def answer_flags(sentence: str) -> np.ndarray:
    """0/1 flags of one therapist sentence, in ``FLAG_NAMES`` order."""
    text = normalise(sentence)
    flags = [1.0 if pattern.search(text) else 0.0 for pattern in _FLAG_PATTERNS.values()]
    flags.append(1.0 if len(text.split()) <= 6 else 0.0)
    return np.array(flags, dtype=np.float32)


class CounsellingModel:
    """An ensemble of small MLP heads, logits averaged and temperature-calibrated, in numpy.

    ``bars`` holds, per behaviour, the probability at which a sentence counts as showing it:
    for the inconsistent behaviours the lowest with cross-validated precision ≥ 0.8 at training
    time (``heads/counselling.json``), for the others ``DEFAULT_BAR``.
    """

    def __init__(
        self, members: Sequence[Layers], temperature: float, bars: dict[str, float] | None = None, version: str = ""
    ) -> None:
        self.members = list(members)
        self.temperature = float(temperature)
        self.bars = {label: (bars or {}).get(label, DEFAULT_BAR) for label in BEHAVIOURS}
        self.version = version

    @classmethod
    def load(cls, path: Path | None = None) -> CounsellingModel:
        members, temperature, meta = load_head(Path(path or DEFAULT_HEAD), BEHAVIOURS, FLAG_NAMES, "counselling")
        return cls(members, temperature, meta.get("bars"), meta.get("version", ""))

    def probabilities(self, embeddings: np.ndarray, sentences: Sequence[str]) -> np.ndarray:
        """(n, len(BEHAVIOURS)) calibrated behaviour probabilities of sentences and their embeddings."""
        if not len(sentences):
            return np.zeros((0, len(BEHAVIOURS)), dtype=np.float32)
        flags = np.stack([answer_flags(s) for s in sentences])
        inputs = np.hstack([embeddings.astype(np.float32), flags])
        return softmax(np.mean([member_logits(m, inputs) for m in self.members], axis=0) / self.temperature)


_QUOTES = "\"'“”‘’«»*_ "


def answer_spans(text: str) -> list[tuple[int, int]]:
    """The answer's sentences, without the quote marks around them: a line said in character
    ("\"You never finish anything.\"") is judged by its words."""
    return [
        span for start, end in sentence_spans(text)[:MAX_SENTENCES] if (span := unquoted(text, start, end))[1] > span[0]
    ]


def unquoted(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _QUOTES:
        start += 1
    while end > start and text[end - 1] in _QUOTES:
        end -= 1
    return start, end


def sentence_embeddings(
    texts: Sequence[str],
    spans: Sequence[Sequence[tuple[int, int]]],
    pooled: Sequence[Sequence[np.ndarray | None]],
    encode: Callable[[list[str]], np.ndarray],
) -> list[np.ndarray]:
    """Each text's sentence embeddings: pooled in context where the encoder pass reached them,
    encoded alone where the text ran past the encoder's window."""
    missing = sorted(
        {
            text[a:b]
            for text, found, vectors in zip(texts, spans, pooled)
            for (a, b), v in zip(found, vectors)
            if v is None
        }
    )
    alone = dict(zip(missing, encode(missing))) if missing else {}
    return [
        np.stack([v if v is not None else alone[text[a:b]] for (a, b), v in zip(found, vectors)])
        if found
        else np.zeros((0, DIMENSIONS), np.float32)
        for text, found, vectors in zip(texts, spans, pooled)
    ]


def assess_answers(
    model: CounsellingModel,
    texts: Sequence[str],
    embeddings: Sequence[np.ndarray],
    spans: Sequence[Sequence[tuple[int, int]]],
) -> list[Behaviours]:
    """``Behaviours`` of each answer from its sentences' embeddings (one model call for the batch)."""
    sentences = [text[a:b] for text, found in zip(texts, spans) for a, b in found]
    if not sentences:
        return [Behaviours({}, 0) for _ in texts]
    probabilities = model.probabilities(np.concatenate([e for e in embeddings if len(e)]), sentences)
    out, at = [], 0
    for found in spans:
        out.append(summarise(found, probabilities[at : at + len(found)], model.bars))
        at += len(found)
    return out


def summarise(spans: Sequence[tuple[int, int]], probabilities: np.ndarray, bars: dict[str, float]) -> Behaviours:
    """The strongest sentence for each behaviour that reaches ``KEPT_PROBABILITY``, and the
    behaviours that reach their bar."""
    best: dict[str, BehaviourSentence] = {}
    for (start, end), row in zip(spans, probabilities):
        for label, p in zip(BEHAVIOURS, row):
            if p >= KEPT_PROBABILITY and (label not in best or p > best[label].p):
                best[label] = BehaviourSentence(start, end, round(float(p), 3))
    return Behaviours(
        best, len(spans), tuple(label for label in BEHAVIOURS if label in best and best[label].p >= bars[label])
    )
