"""Calibrated crisis risk of a patient's sentences: who, when, and how sure.

A patient turn is cut into sentences (``language.sentence_spans``). Sentences with risk
vocabulary or a crisis pattern are candidates; each candidate is scored by a head trained on
real, hand-labelled sentences (counsel-chat questions, SDCNL posts) and sentences written for
turnwatch (``turnwatch train crisis-risk``). Its input is the frozen encoder's sentence
embedding plus stance flags and the pattern kinds that fired; its output a calibrated
probability per class:

- ``none``: no risk of the writer's own (someone else's, "you", people in general, denied,
  hypothetical or a question, an idiom, a positive statement, a quote or role-play);
- ``history``: the writer's own risk, told as past and over;
- one class per current kind: passive wish to be dead, active ideation, method, intent or
  plan, preparatory behaviour (an attempt included), self-harm, harm to others, abuse or
  danger. Recent acts ("last week I took a handful of pills") are current.

The turn's decision comes from its riskiest sentence: ``page`` when P(current) reaches the
paging threshold, ``review`` when it reaches the review threshold, ``history`` when the past
is likely, else ``none``. Thresholds are calibrated on cross-validated predictions at
training time (``heads/sentence_head.json``) and can be overridden in settings.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from detectors.crisis.evidence import turn_evidence
from detectors.crisis.language import (
    ANY_OF_KIND,
    FIGURES_OF_SPEECH,
    HYPERBOLE,
    HYPOTHETICAL,
    KINDS,
    PAST,
    PRESENT,
    RISK_VOCABULARY,
    THIRD_PARTY,
    in_plain_words,
    literal_as_written,
    normalise,
    sentence_spans,
)
from detectors.crisis.lexicon import Lexicon
from detectors.crisis.signals import CrisisDecision, CrisisSignals, RiskSentence
from detectors.heads_io import Layers, load_head, mean_member_logits, softmax

CLASSES: tuple[str, ...] = ("none", "history", *KINDS)
SUICIDAL_LADDER: tuple[str, ...] = ("passive_ideation", "active_ideation", "method", "intent_plan", "preparatory")
DEFAULT_HEAD = Path(__file__).resolve().parent / "heads" / "sentence_head.npz"
KEPT_SENTENCES = 4  # the riskiest sentences of a turn kept in state as evidence

_FLAG_PATTERNS: dict[str, re.Pattern] = {
    "first_person": re.compile(r"\b(i|i'm|i've|i'd|i'll|me|my|myself|mine)\b"),
    "third_party": THIRD_PARTY,
    "you": re.compile(r"\b(you|your|yourself|you're|u)\b"),
    "generic": re.compile(r"\b(people|someone|somebody|anyone|everyone|a person|those who|teens|kids|men|women)\b"),
    "negation": re.compile(r"\b(not|never|no|don't|didn't|won't|wouldn't|isn't|wasn't|haven't|can't|nothing|nor)\b"),
    "denial": re.compile(
        r"\b(not|never|no|don't|won't|wouldn't|haven't)\b(\s+\w+){0,3}?\s+"
        r"(suicidal|hurt\w*|harm\w*|kill\w*|die|end\w*|do anything|plan\w*|intend\w*|want to die|safe)\b"
        r"|\bi('m| am) safe\b|\bnothing like that\b"
    ),
    "past": PAST,
    "present": PRESENT,
    "recent": re.compile(
        r"\b(last (night|week|weekend)|yesterday|this (morning|week|month)|a (few )?(days|weeks) ago|earlier today|again)\b"
    ),
    "hypothetical": re.compile(
        HYPOTHETICAL.pattern + r"|\b(what if|if i ever|would it be|is it normal|should i|hypothetically)\b"
    ),
    "question": re.compile(r"\?\s*$|^(how|what|why|is|are|should|can|could|do|does|would|will|when)\b"),
    "idiom": re.compile(
        HYPERBOLE.pattern
        + r"|\b(killing me|kill(ing)? time|dying (to|for)|dead (tired|on my feet)|to die for|shoot me now|"
        r"murder (a|an|some)|bored to death|scared to death|kill it|killed it|dead end)\b"
    ),
    "positive": re.compile(
        r"\b(looking forward|excited|doing (better|well|great)|happy|grateful|enjoy\w*|hopeful|proud|love my life|"
        r"going well|plans? for|next (year|summer|month))\b"
    ),
    "quote": re.compile(r"[\"“”]|\b(said|says|told me|lyrics?|character|role[- ]?play|pretend)\b"),
}
# Clinical constructs of the Suicide Risk Lexicon the head reads, each a flag: 1 for a prototypical
# token in the sentence, 0.5 for another validated one. Exposure and abuse tell someone else's
# risk and danger from others apart from the writer's own.
SENTENCE_CONSTRUCTS: tuple[str, ...] = (
    "passive_suicidal_ideation",
    "active_suicidal_ideation_suicidal_planning",
    "lethal_means_for_suicide",
    "direct_self_injury",
    "other_suicidal_language",
    "burdensomeness",
    "hopelessness",
    "entrapment_desire_to_escape",
    "suicide_exposure",
    "physical_abuse_violence",
    "sexual_abuse_harassment",
)
# A lexicon match of these makes a sentence a candidate even without other risk words.
CANDIDATE_CONSTRUCTS = SENTENCE_CONSTRUCTS[:6]
FLAG_NAMES: tuple[str, ...] = (
    *_FLAG_PATTERNS,
    *(f"pattern:{kind}" for kind in KINDS),
    *(f"lexicon:{key}" for key in SENTENCE_CONSTRUCTS),
)

# Candidate vocabulary: risk words, plus euphemisms for endings and giving things away.
_EUPHEMISM = re.compile(
    r"\b(way out|only way|no way|nothing left|point anymore|last time|who gets|note|letters?|affairs|"
    r"sorted|give away|giving away|escape|enough|pointless|over with|let go|tired of|can't go on|can't do this|"
    r"go through with it|won't be (here|around)|not be (here|around)|ready to go|"
    r"this is (it|goodbye)|last (day|night|post)|on fire|around my neck|my neck|gasoline|petrol|"
    r"(months?|weeks?|days?) left|(i'm|i am) done|be done with)\b"
)


def stance_flags(sentence: str) -> np.ndarray:
    """0/1 stance and pattern flags of a normalised sentence (the first part of ``FLAG_NAMES``)."""
    flags = [1.0 if pattern.search(sentence) else 0.0 for pattern in _FLAG_PATTERNS.values()]
    flags += [1.0 if ANY_OF_KIND[kind].search(sentence) else 0.0 for kind in KINDS]
    return np.array(flags, dtype=np.float32)


def lexicon_flags(sentence: str, lexicon: Lexicon | None = None) -> np.ndarray:
    """The ``SENTENCE_CONSTRUCTS`` flags of a sentence as written (acronyms keep their case)."""
    found = {m.construct: m.prototypical for m in (lexicon or Lexicon.load()).matches(sentence)}
    return np.array(
        [(1.0 if found[key] else 0.5) if key in found else 0.0 for key in SENTENCE_CONSTRUCTS], dtype=np.float32
    )


def sentence_features(sentence: str) -> np.ndarray:
    """Every flag the head reads beside the embedding, in ``FLAG_NAMES`` order."""
    return np.concatenate([stance_flags(normalise(sentence)), lexicon_flags(sentence)])


def candidate_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, the sentence as the head reads it: ``in_plain_words``, case kept) of the sentences
    worth scoring: risk words, euphemisms, a crisis pattern or a suicide-related construct of the
    lexicon, once figures of speech ("beat myself up", "this is killing me") are set aside."""
    lexicon = Lexicon.load()
    out = []
    for start, end in sentence_spans(text):
        written = in_plain_words(text[start:end])
        literal = FIGURES_OF_SPEECH.sub(" ", normalise(written))
        if (
            RISK_VOCABULARY.search(literal)
            or _EUPHEMISM.search(literal)
            or any(rx.search(literal) for rx in ANY_OF_KIND.values())
            or any(m.construct in CANDIDATE_CONSTRUCTS for m in lexicon.matches(literal_as_written(written)))
        ):
            out.append((start, end, written))
    return out


@dataclass(frozen=True)
class Thresholds:
    page: float
    review: float
    history: float

    def validate(self) -> Thresholds:
        for name in ("page", "review", "history"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"crisis {name} threshold must be in (0, 1), got {value!r}")
        if self.review > self.page:
            raise ValueError(f"crisis review threshold {self.review} is above the page threshold {self.page}")
        return self


class CrisisRiskModel:
    """An ensemble of small MLP (or logistic) heads, logits averaged, temperature-calibrated, in numpy."""

    def __init__(
        self, members: Sequence[Layers], temperature: float, thresholds: Thresholds, version: str = ""
    ) -> None:
        self.members = [[(w.astype(np.float32), b.astype(np.float32)) for w, b in layers] for layers in members]
        self.temperature = float(temperature)
        self.thresholds = thresholds.validate()
        self.version = version

    @classmethod
    def load(cls, path: Path | None = None) -> CrisisRiskModel:
        members, temperature, meta = load_head(Path(path or DEFAULT_HEAD), CLASSES, FLAG_NAMES, "crisis-risk")
        chosen = meta["thresholds"]
        return cls(
            members,
            temperature,
            Thresholds(chosen["page"], chosen["review"], chosen["history"]),
            meta.get("version", ""),
        )

    def with_thresholds(
        self, page: float | None = None, review: float | None = None, history: float | None = None
    ) -> CrisisRiskModel:
        changes = {k: v for k, v in (("page", page), ("review", review), ("history", history)) if v is not None}
        model = copy.copy(self)
        model.thresholds = replace(self.thresholds, **changes).validate()
        return model

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        return mean_member_logits(self.members, inputs)

    def probabilities(self, embeddings: np.ndarray, sentences: Sequence[str]) -> np.ndarray:
        """(n, len(CLASSES)) calibrated class probabilities of sentences as written."""
        if not len(sentences):
            return np.zeros((0, len(CLASSES)), dtype=np.float32)
        inputs = np.hstack([embeddings.astype(np.float32), np.stack([sentence_features(s) for s in sentences])])
        return softmax(self.logits(inputs) / self.temperature)

    def judge(self, spans: Sequence[tuple[int, int]], probabilities: np.ndarray) -> CrisisSignals:
        """The decision for one turn from its candidate sentences' probabilities."""
        limits = self.thresholds
        judged = [_risk_sentence(start, end, row) for (start, end), row in zip(spans, probabilities)]
        kept = sorted(
            (s for s in judged if s.current >= limits.review or s.history >= limits.history),
            key=lambda s: (-s.current, -s.history),
        )
        top_current = max((s.current for s in judged), default=0.0)
        # Review is for possibly-current risk; a sentence that is more likely told as past is history.
        reviewable = any(s.current >= limits.review and s.current >= s.history for s in judged)
        if top_current >= limits.page:
            decision = CrisisDecision.PAGE
        elif reviewable:
            decision = CrisisDecision.REVIEW
        elif any(s.history >= limits.history for s in judged):
            decision = CrisisDecision.HISTORY
        else:
            decision = CrisisDecision.NONE
        deciding_past = max(judged, key=lambda s: s.history, default=None)
        kept = kept[:KEPT_SENTENCES]
        if decision is CrisisDecision.HISTORY and deciding_past is not None and deciding_past not in kept:
            kept = [*kept[: KEPT_SENTENCES - 1], deciding_past]
        paged = tuple(dict.fromkeys(s.kind for s in kept if s.current >= limits.page))
        return CrisisSignals(decision, tuple(kept), paged)


def _risk_sentence(start: int, end: int, row: np.ndarray) -> RiskSentence:
    current = row[2:]
    kind = KINDS[int(current.argmax())]
    by_kind = dict(zip(KINDS, current))
    steps = tuple(round(float(sum(by_kind[k] for k in SUICIDAL_LADDER[i:])), 4) for i in range(len(SUICIDAL_LADDER)))
    return RiskSentence(start, end, kind, round(float(current.sum()), 4), round(float(row[1]), 4), steps)


def candidate_sentences(spans: Sequence[list[tuple[int, int, str]]]) -> set[str]:
    """The distinct candidate sentences of a batch (``candidate_spans`` of each text), as the head reads them."""
    return {sentence for found in spans for _, _, sentence in found}


def assess_turns(
    model: CrisisRiskModel,
    texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    known: dict[str, np.ndarray] | None = None,
    spans: Sequence[list[tuple[int, int, str]]] | None = None,
) -> list[CrisisSignals]:
    """Crisis signals for each text, encoding every candidate sentence of the batch in one call.

    ``known`` maps texts whose embedding is already computed (a one-sentence turn is its own
    sentence, or the caller encoded the candidates with the turns) so they are not encoded twice;
    ``spans`` are the texts' ``candidate_spans`` when the caller has them.
    """
    spans = spans if spans is not None else [candidate_spans(text) for text in texts]
    known = known or {}
    wanted = sorted(candidate_sentences(spans) - set(known))
    vectors = dict(known)
    if wanted:
        vectors.update(zip(wanted, encode(wanted)))
    out = []
    for text, found in zip(texts, spans):
        found_spans = [(a, b) for a, b, _ in found]
        if found:
            read = [sentence for _, _, sentence in found]
            probabilities = model.probabilities(np.stack([vectors[sentence] for sentence in read]), read)
            signals = model.judge(found_spans, probabilities)
        else:
            probabilities, signals = np.zeros((0, len(CLASSES)), dtype=np.float32), CrisisSignals()
        evidence, safety = turn_evidence(text, found_spans, probabilities, model.thresholds.review)
        out.append(replace(signals, evidence=evidence, safety=safety))
    return out
