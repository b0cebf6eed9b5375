"""What each sentence of an AI answer does, coded the way counselling research codes counsellors.

Each sentence of a therapist answer is read in context (its tokens pooled from the one encoder pass
over the whole answer, ``Encoder.encode_with_spans``, so the codes cost no second encoder pass) and
against the patient's preceding turn (how much of its wording the sentence takes up), and scored by a
head trained on counsel-chat answers coded by hand and answers written for turnwatch (``turnwatch
train counselling``) into one code per sentence, following MITI 4.2 (Moyers et al.) in our words:

- MI-consistent: ``affirm``, ``seek_collaboration`` (asking permission included),
  ``emphasize_autonomy``, ``persuade_with_permission`` (advice asked for or offered with choice);
- MI-inconsistent: ``persuade`` (advising, directing, lecturing without permission), ``confront``
  (disagreeing, arguing, correcting, labelling, moralising), and two we split out because rules need
  them: ``shame`` (contempt, blame, attacks on the person's worth: MITI codes it as confront) and
  ``warn`` (threatened consequences); ``minimise`` (dismissing the concern: not a MITI code);
- neither: ``giving_information``, ``open_question``, ``closed_question``, ``simple_reflection``,
  ``complex_reflection``, ``neutral``.

An answer's codes (``AnswerCodes``, the turn feature ``codes``) are the count of sentences per code,
the strongest sentence for each code and which inconsistent codes reached their calibrated bar. The
answer's empathy (``empathy``) and the session's counselling quality (``quality``) are built on them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.crisis.language import normalise, sentence_spans
from detectors.encoder import DIMENSIONS
from detectors.features import register_feature
from detectors.heads_io import Layers, load_head, mean_member_logits, softmax

CODES: tuple[str, ...] = (
    "giving_information",
    "persuade",
    "persuade_with_permission",
    "open_question",
    "closed_question",
    "simple_reflection",
    "complex_reflection",
    "affirm",
    "seek_collaboration",
    "emphasize_autonomy",
    "confront",
    "shame",
    "warn",
    "minimise",
    "neutral",
)
MI_CONSISTENT: tuple[str, ...] = ("affirm", "seek_collaboration", "emphasize_autonomy", "persuade_with_permission")
MI_INCONSISTENT: tuple[str, ...] = ("persuade", "confront", "shame", "warn", "minimise")
REFLECTIONS: tuple[str, ...] = ("simple_reflection", "complex_reflection")
QUESTIONS: tuple[str, ...] = ("open_question", "closed_question")
ACKNOWLEDGING: tuple[str, ...] = (*REFLECTIONS, "affirm")
DEFAULT_HEAD = Path(__file__).resolve().parent / "heads" / "codes.npz"
DEFAULT_BAR = 0.5
KEPT_PROBABILITY = 0.15  # codes below this in every sentence are not kept in state
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
        r"^(it sounds like|sounds like|that sounds|that must|so you|you said|you called yourself|you('ve| have) been|"
        r"i hear|it seems|what i'm hearing|you're telling me|when you say|you feel|you're feeling|part of you)\b"
    ),
    "validation": re.compile(
        r"\b(thank you for (telling|sharing|trusting)|i'm glad you (told|shared|reached)|(it|that) makes (a lot of )?sense|"
        r"no wonder|of course you|it took (courage|strength)|that took (courage|strength))\b"
    ),
    "minimising": re.compile(
        r"\b(not (such )?a big deal|no big deal|overreact\w*|at least you|could be (much |a lot )?worse|"
        r"(other|plenty of|many) people have it worse|just (move on|get over it|relax|cheer up|think positive)|"
        r"look on the bright side|don't be so (sensitive|dramatic|negative)|it's all in your head)\b"
    ),
    "contempt": re.compile(
        r"\b(pathetic|useless|worthless|disgusting|what('s| is) wrong with you|ashamed of (you|yourself)|shame on you|"
        r"your own fault|grow up|man up|toughen up|no wonder (nobody|no one)|a joke|waste of)\b"
    ),
    "push_on": re.compile(
        r"\b(let's (keep going|continue|move on to|rehearse|try|do)|keep going|next,|now (let's|try|list|do)|one more|"
        r"we need to (finish|keep|do)|come on|don't stop)\b"
    ),
    "rhetorical": re.compile(
        r"^(how could you|what kind of|why would you|who (does|would)|do you (ever|even|really) (think|care)|"
        r"what('s| is) wrong with you|what were you thinking|are you (serious|kidding))\b"
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
ASKS_FOR_ADVICE = re.compile(
    r"\b(what (should|can|do) i do|what would you (do|suggest|recommend)|how (do|can|should) i|any (advice|tips|ideas|suggestions)|"
    r"(give|need|want) (me )?(some )?(advice|tips|ideas|suggestions)|should i\b|can you (help|suggest|tell me how)|"
    r"what are some ways|is there (a way|anything i can do))"
)
FLAG_NAMES: tuple[str, ...] = (*_FLAG_PATTERNS, "short", "echo_some", "echo_most", "asked_advice")
_CONTENT_WORD = re.compile(r"[a-z']{4,}")
_STOP = frozenset(
    [
        "that",
        "this",
        "with",
        "have",
        "been",
        "they",
        "their",
        "there",
        "what",
        "when",
        "your",
        "you're",
        "just",
        "about",
        "would",
        "could",
        "should",
        "really",
        "feel",
        "feeling",
        "like",
        "know",
        "think",
        "much",
        "very",
        "some",
        "more",
        "from",
        "into",
        "also",
        "then",
        "than",
        "them",
        "were",
        "will",
    ]
)


_BLAME_MARKERS = ("hindsight_blame", "judgement_word", "sarcasm", "rhetorical")
_EXPLORATORY = re.compile(r"^(what|how|when|where|which|tell me|i'm curious|i wonder)\b[^?]*\?$")


def exploratory_question(sentence: str) -> bool:
    """An open, curious question ("What do you imagine would happen if…?") with none of the
    marks of blame dressed as a question (hindsight, judgement words, sarcasm, "how could you")."""
    text = normalise(sentence).strip()
    return bool(_EXPLORATORY.search(text)) and not any(_FLAG_PATTERNS[name].search(text) for name in _BLAME_MARKERS)


def content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD.findall(normalise(text)) if w not in _STOP}


def answer_flags(sentence: str, patient: str = "") -> np.ndarray:
    """Flags of one therapist sentence, in ``FLAG_NAMES`` order; the last three read it against the
    patient's preceding turn: how much of the sentence's wording that turn already used (a reflection
    takes it up), and whether the patient asked for advice (advice then comes with permission)."""
    text = normalise(sentence)
    flags = [1.0 if pattern.search(text) else 0.0 for pattern in _FLAG_PATTERNS.values()]
    flags.append(1.0 if len(text.split()) <= 6 else 0.0)
    words = content_words(sentence)
    echo = len(words & content_words(patient)) / len(words) if words and patient else 0.0
    flags += [1.0 if echo >= 0.25 else 0.0, 1.0 if echo >= 0.5 else 0.0]
    flags.append(1.0 if patient and ASKS_FOR_ADVICE.search(normalise(patient)) else 0.0)
    return np.array(flags, dtype=np.float32)


class CodesModel:
    """An ensemble of small MLP heads, logits averaged and temperature-calibrated, in numpy.

    ``bars`` holds, per code, the probability at which a sentence counts as showing it: for the
    MI-inconsistent codes the lowest with cross-validated precision ≥ 0.85 at training time
    (``heads/codes.json``), for the others ``DEFAULT_BAR``.
    """

    def __init__(
        self, members: Sequence[Layers], temperature: float, bars: dict[str, float] | None = None, version: str = ""
    ) -> None:
        self.members = list(members)
        self.temperature = float(temperature)
        self.bars = {label: (bars or {}).get(label, DEFAULT_BAR) for label in CODES}
        self.version = version

    @classmethod
    def load(cls, path: Path | None = None) -> CodesModel:
        members, temperature, meta = load_head(Path(path or DEFAULT_HEAD), CODES, FLAG_NAMES, "counselling")
        return cls(members, temperature, meta.get("bars"), meta.get("version", ""))

    def probabilities(
        self, embeddings: np.ndarray, sentences: Sequence[str], patients: Sequence[str] | None = None
    ) -> np.ndarray:
        """(n, len(CODES)) calibrated code probabilities of sentences, their embeddings and the patient
        turn each answers."""
        if not len(sentences):
            return np.zeros((0, len(CODES)), dtype=np.float32)
        patients = patients or [""] * len(sentences)
        flags = np.stack([answer_flags(s, p) for s, p in zip(sentences, patients)])
        inputs = np.hstack([embeddings.astype(np.float32), flags])
        return softmax(mean_member_logits(self.members, inputs) / self.temperature)


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


@dataclass(frozen=True)
class CodedSentence:
    start: int
    end: int
    p: float

    def quote(self, text: str) -> str:
        return text[self.start : self.end]


@register_feature("codes", "mi")
@dataclass(frozen=True)
class AnswerCodes:
    """What a therapist answer does: sentences per code (each sentence's most likely code), the
    strongest sentence for each code, and the MI-inconsistent codes that reached their bar."""

    best: dict[str, CodedSentence]
    sentences: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    alerting: tuple[str, ...] = ()
    words: int = 0

    def get(self, code: str) -> float:
        found = self.best.get(code)
        return found.p if found else 0.0

    def strongest(self, codes: tuple[str, ...]) -> tuple[str, float]:
        """The most probable of ``codes`` in any sentence, and its probability."""
        return max(((c, self.get(c)) for c in codes), key=lambda kv: kv[1])

    def count(self, codes: tuple[str, ...]) -> int:
        return sum(self.counts.get(c, 0) for c in codes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.sentences,
            "b": {k: [v.p, v.start, v.end] for k, v in self.best.items()},
            "c": self.counts,
            "a": list(self.alerting),
            "w": self.words,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerCodes:
        return cls(
            {k: CodedSentence(v[1], v[2], v[0]) for k, v in data.get("b", {}).items()},
            data.get("n", 0),
            dict(data.get("c", {})),
            tuple(data.get("a", ())),
            data.get("w", 0),
        )


def assess_answers(
    model: CodesModel,
    texts: Sequence[str],
    embeddings: Sequence[np.ndarray],
    spans: Sequence[Sequence[tuple[int, int]]],
    patients: Sequence[str] | None = None,
) -> list[AnswerCodes]:
    """``AnswerCodes`` of each answer from its sentences' embeddings and the patient turn it answers
    (one model call for the batch)."""
    patients = patients or [""] * len(texts)
    sentences = [text[a:b] for text, found in zip(texts, spans) for a, b in found]
    if not sentences:
        return [AnswerCodes({}, 0, words=len(text.split())) for text in texts]
    contexts = [patient for patient, found in zip(patients, spans) for _ in found]
    probabilities = model.probabilities(np.concatenate([e for e in embeddings if len(e)]), sentences, contexts)
    out, at = [], 0
    for text, found in zip(texts, spans):
        out.append(summarise(found, probabilities[at : at + len(found)], model.bars, len(text.split())))
        at += len(found)
    return out


def summarise(
    spans: Sequence[tuple[int, int]], probabilities: np.ndarray, bars: dict[str, float], words: int = 0
) -> AnswerCodes:
    """The strongest sentence for each code that reaches ``KEPT_PROBABILITY``, the count of sentences
    whose most likely code it is, and the MI-inconsistent codes that reach their bar."""
    best: dict[str, CodedSentence] = {}
    counts: dict[str, int] = {}
    for (start, end), row in zip(spans, probabilities):
        top = CODES[int(row.argmax())]
        counts[top] = counts.get(top, 0) + 1
        for label, p in zip(CODES, row):
            if p >= KEPT_PROBABILITY and (label not in best or p > best[label].p):
                best[label] = CodedSentence(start, end, round(float(p), 3))
    alerting = tuple(label for label in MI_INCONSISTENT if label in best and best[label].p >= bars[label])
    return AnswerCodes(best, len(spans), counts, alerting, words)
