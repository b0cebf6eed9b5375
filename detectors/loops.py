"""Loop detector: a conversation going round in circles.

Rules
-----
``loop.patient_refrain`` (info at 4 turns, warning at 6, high at 8)
    The patient keeps returning to the same fear, question or request: each new patient
    turn is close (embedding cosine ≥ 0.55, or ≥ 5 shared content 4-grams) to one of the
    last three patient turns.
``loop.therapist_template`` (warning at 3 turns, high at 5)
    The therapist repeats the same intervention or frame: two or more of the same
    techniques (breathing, body awareness, noticing, imagery, acceptance, ...), or ≥ 4 shared
    content 4-grams, or a near-identical turn (cosine ≥ 0.85), against one of the last two
    therapist turns.
``loop.cycle`` (warning at 3 exchanges, high at 5)
    The same suggestion met by the same rejection: consecutive exchanges where the therapist
    repeats its intervention and the patient answers alike, pushing back ("I tried that",
    "it doesn't help").

A run ends when a turn is not close to the recent ones (a real change of topic) or, for the
patient, when the turn shows progress ("that helped", "I'll try it"). A run is an episode (its
first turn is the key): the pipeline raises one alert per run, again only as it grows more
severe, and a later run only past the worst severity already raised. Turns under six words ("I see", "okay") never
extend or start a run. Evidence: the repeated phrase (the longest shared wording, or the
shared techniques) and the run's turns. Run lengths are options (``patient_run``,
``therapist_run``, ``cycle_run``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord
from detectors.text import longest_shared_phrase, words

NAME = "loop"
VERSION = "loop/1.0"

MIN_WORDS = 6
PATIENT_COSINE = 0.55
PATIENT_SHARED_GRAMS = 5
THERAPIST_COSINE = 0.85
THERAPIST_SHARED_GRAMS = 4
SHARED_TECHNIQUES = 2

_STOP = {
    "i",
    "you",
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "with",
    "it",
    "is",
    "that",
    "this",
    "be",
    "as",
    "are",
    "was",
    "your",
    "my",
    "me",
    "we",
    "our",
    "what",
    "how",
    "can",
    "would",
    "could",
    "do",
    "just",
    "so",
    "if",
    "not",
    "about",
    "like",
    "let's",
    "let",
    "it's",
    "i'm",
}
TECHNIQUES = {
    "breathing": r"\b(breath|breathe|breathing|inhale|exhale)\w*",
    "body awareness": r"\b(sensations?|your body|feet|the ground|tension)\b",
    "noticing": r"\b(notice|observe|bring your attention|be with|present moment|in this moment)\b",
    "imagery": r"\b(imagine|picture|visuali[sz]e)\b",
    "acceptance": r"\b(without judg\w*|accept\w*|allow (it|yourself|them)|let (it|them) be|without trying to change)\b",
    "reframing": r"\b(evidence|realistic|alternative|another way|reframe)\b",
    "small step": r"\b(small step|tiny step|one step|first step|single step|one small)\b",
    "values": r"\b(values?|matters? to you|meaningful|important to you)\b",
    "homework": r"\b(journal|write (it )?down|each week|every day|commit)\b",
}
_TECHNIQUES = {name: re.compile(pattern) for name, pattern in TECHNIQUES.items()}
PROGRESS = re.compile(
    r"\b(that (helped|helps|was helpful)|(it|this) (helped|helps)|i feel (a bit |a little |much )?(better|calmer|lighter)|"
    r"i('ll| will) (try|give it a (go|try|shot))|i can do that|i('m| am) going to try|let's do (it|this)|makes sense now)\b"
)
REJECTION = re.compile(
    r"\b(i (tried|did) (that|it|this)|(doesn't|does not|didn't|won't|isn't going to) (help|work)|i can't|"
    r"it's not (working|helping)|that's not (it|helping)|but i still|still (doesn't|feel|see|picture)|no,)\b"
)


@lru_cache(maxsize=4096)
def content_grams(text: str, n: int = 4) -> frozenset[str]:
    tokens = words(text)
    return frozenset(
        " ".join(tokens[i : i + n])
        for i in range(len(tokens) - n + 1)
        if sum(w not in _STOP for w in tokens[i : i + n]) >= 2
    )


@lru_cache(maxsize=4096)
def techniques(text: str) -> frozenset[str]:
    lowered = text.lower()
    return frozenset(name for name, pattern in _TECHNIQUES.items() if pattern.search(lowered))


@dataclass(frozen=True)
class Likeness:
    close: bool
    phrase: str


def _cosine(a: TurnRecord, b: TurnRecord) -> float:
    if a.features.embedding is None or b.features.embedding is None:
        return 0.0
    return a.features.embedding.cosine(b.features.embedding)


@dataclass
class Run:
    """Consecutive turns that repeat one another (for a cycle: therapist and patient turns)."""

    turns: list[int]
    phrase: str = ""
    exchanges: int = 0

    def add(self, *indices: int) -> None:
        self.turns.extend(indices)
        del self.turns[:-64]

    def to_dict(self) -> dict[str, Any]:
        return {"turns": list(self.turns), "phrase": self.phrase, "exchanges": self.exchanges}


@dataclass
class LoopMemory:
    runs: dict[str, Run] = field(default_factory=dict)  # by role
    cycle: Run | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": {role: run.to_dict() for role, run in self.runs.items()},
            "cycle": self.cycle.to_dict() if self.cycle else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopMemory:
        cycle = data.get("cycle")
        return cls({role: Run(**run) for role, run in data.get("runs", {}).items()}, Run(**cycle) if cycle else None)


def patient_likeness(new: TurnRecord, old: TurnRecord) -> Likeness:
    shared = len(content_grams(new.text) & content_grams(old.text))
    close = _cosine(new, old) >= PATIENT_COSINE or shared >= PATIENT_SHARED_GRAMS
    return Likeness(close, longest_shared_phrase(new.text, old.text) if close else "")


def therapist_likeness(new: TurnRecord, old: TurnRecord) -> Likeness:
    common = techniques(new.text) & techniques(old.text)
    shared = len(content_grams(new.text) & content_grams(old.text))
    close = (
        len(common) >= SHARED_TECHNIQUES or shared >= THERAPIST_SHARED_GRAMS or _cosine(new, old) >= THERAPIST_COSINE
    )
    if not close:
        return Likeness(False, "")
    return Likeness(True, longest_shared_phrase(new.text, old.text) or ", ".join(sorted(common)))


def _long_enough(turn: TurnRecord) -> bool:
    return len(turn.text.split()) >= MIN_WORDS


@dataclass(frozen=True)
class LoopDetector:
    name: str = NAME
    version: str = VERSION
    rules: tuple[str, ...] = ("loop.patient_refrain", "loop.therapist_template", "loop.cycle")
    patient_run: int = 4
    therapist_run: int = 3
    cycle_run: int = 3

    def with_options(self, **options: Any) -> LoopDetector:
        unknown = set(options) - {"patient_run", "therapist_run", "cycle_run"}
        if unknown:
            raise ValueError(f"unknown loop option(s): {', '.join(sorted(unknown))}")
        for key, value in options.items():
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"loop option {key} must be an integer ≥ 2, got {value!r}")
        return replace(self, **options)

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role not in ("patient", "therapist"):
            return []
        memory = state.memory(NAME, LoopMemory)
        findings = []
        if turn.role == "patient":
            findings.append(self._role_run(state, turn, memory, "patient"))
            findings.append(self._cycle(state, turn, memory))
        else:
            findings.append(self._role_run(state, turn, memory, "therapist"))
        return [f for f in findings if f is not None]

    def _role_run(self, state: ConversationState, turn: TurnRecord, memory: LoopMemory, role: str) -> Finding | None:
        run = memory.runs.get(role)
        if not _long_enough(turn):
            return None
        if role == "patient" and PROGRESS.search(turn.text.lower()):
            memory.runs.pop(role, None)
            return None
        likeness, lookback = (patient_likeness, 3) if role == "patient" else (therapist_likeness, 2)
        previous = [t for t in state.previous(role, before=turn.index) if _long_enough(t)][:lookback]
        match = next(((old, like) for old in previous if (like := likeness(turn, old)).close), None)
        if match is None:
            memory.runs[role] = Run([turn.index])
            return None
        old, like = match
        if run is None or old.index not in run.turns:
            run = Run([old.index])
        run.add(turn.index)
        run.phrase = like.phrase or run.phrase
        memory.runs[role] = run
        threshold = self.patient_run if role == "patient" else self.therapist_run
        return self._finding(
            state, f"loop.{'patient_refrain' if role == 'patient' else 'therapist_template'}", role, run, threshold
        )

    def _cycle(self, state: ConversationState, turn: TurnRecord, memory: LoopMemory) -> Finding | None:
        """An exchange = a therapist turn and the patient's answer to it."""
        therapist = next(state.previous("therapist", before=turn.index), None)
        if therapist is None or not REJECTION.search(turn.text.lower()):
            memory.cycle = None
            return None
        previous_patient = next(state.previous("patient", before=therapist.index), None)
        previous_therapist = next(state.previous("therapist", before=therapist.index), None)
        same = (
            previous_patient is not None
            and previous_therapist is not None
            and therapist_likeness(therapist, previous_therapist).close
            and patient_likeness(turn, previous_patient).close
            and REJECTION.search(previous_patient.text.lower())
        )
        if not same:
            memory.cycle = Run([therapist.index, turn.index], exchanges=1)
            return None
        cycle = memory.cycle
        if cycle is None or previous_patient.index not in cycle.turns:
            cycle = Run([previous_therapist.index, previous_patient.index], exchanges=1)
        cycle.add(therapist.index, turn.index)
        cycle.exchanges += 1
        cycle.phrase = therapist_likeness(therapist, previous_therapist).phrase
        memory.cycle = cycle
        return self._finding(state, "loop.cycle", "therapist", cycle, self.cycle_run, count=cycle.exchanges)

    def _finding(
        self, state: ConversationState, rule: str, role: str, run: Run, threshold: int, count: int | None = None
    ) -> Finding | None:
        length = count if count is not None else len(run.turns)
        if length < threshold:
            return None
        if rule == "loop.patient_refrain":
            severity = (
                Severity.HIGH
                if length >= threshold + 4
                else Severity.WARNING
                if length >= threshold + 2
                else Severity.INFO
            )
        else:
            severity = Severity.HIGH if length >= threshold + 2 else Severity.WARNING
        by_index = {t.index: t for t in state.window}
        shown = [i for i in run.turns if i in by_index][-3:]
        phrase = run.phrase or "similar meaning"
        evidence = tuple(
            Evidence(i, by_index[i].role, excerpt(by_index[i].text, 140), f"repeats: “{phrase}”") for i in shown
        )
        unit = "exchanges" if count is not None else f"{role} turns"
        what = {
            "loop.patient_refrain": "The patient keeps returning to the same point",
            "loop.therapist_template": "The therapist repeats the same intervention",
            "loop.cycle": "The same suggestion keeps meeting the same rejection",
        }[rule]
        return Finding(
            detector=NAME,
            rule=rule,
            severity=severity,
            opened_at=run.turns[0],
            episode=str(run.turns[0]),
            turns=tuple(run.turns),
            evidence=evidence,
            summary=f"{what}: {length} {unit} in a row (“{phrase}”).",
            suggested_action="Check whether the conversation is stuck; consider a human follow-up or a change of approach.",
            score=min(1.0, length / (2 * threshold)),
        )


DETECTOR = LoopDetector()
