"""The Suicide Risk Lexicon: clinical constructs as features of the crisis model and as the
categories its evidence cites.

The lexicon is Low et al.'s Suicide Risk Lexicon v1.0 (construct-tracker 1.0.16, Apache-2.0,
https://github.com/danielmlow/construct-tracker): 50 constructs (passive suicidal ideation, active
ideation and planning, lethal means, direct self-injury, hopelessness, burdensomeness, loneliness,
entrapment, …), each with a definition, its sources and clinician-validated tokens, of which the
prototypical ones are the clearest. ``lexicon/suicide_risk_lexicon.json`` is a compact copy of those
files (``turnwatch train lexicon`` rebuilds it from the downloaded wheel; ``lexicon/NOTICE`` says
what was changed); the package itself, with its pinned dependencies, is never installed.

A sentence *matches* a construct when one of its tokens occurs in it as whole words (case-folded;
short all-capital acronyms such as "OD" only as written). Matching is a dictionary lookup of the
sentence's word n-grams, so its cost does not grow with the lexicon.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LEXICON_FILE = Path(__file__).resolve().parent / "lexicon" / "suicide_risk_lexicon.json"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]", re.IGNORECASE)
# What reviewers read in evidence ("lethal means: ..."), where the lexicon's own name is long.
SHORT_LABELS = {
    "active_suicidal_ideation_suicidal_planning": "active ideation or planning",
    "lethal_means_for_suicide": "lethal means",
    "direct_self_injury": "self-injury",
    "loneliness_isolation": "loneliness",
    "shame_self_disgust_worthlessness": "shame or worthlessness",
    "defeat_feeling_like_a_failure": "defeat",
    "entrapment_desire_to_escape": "entrapment",
    "existential_meaninglessness_purposelessness": "meaninglessness",
    "emotional_pain_psychache": "emotional pain",
    "anhedonia_uninterested": "anhedonia",
    "physical_abuse_violence": "physical abuse or violence",
    "sexual_abuse_harassment": "sexual abuse or harassment",
    "aggression_irritability": "aggression",
    "fatigue_tired": "exhaustion",
    "burdensomeness": "perceived burdensomeness",
}


@dataclass(frozen=True)
class Construct:
    key: str
    name: str
    definition: str
    prototypical: tuple[str, ...]
    tokens: tuple[str, ...]

    @property
    def label(self) -> str:
        return SHORT_LABELS.get(self.key, self.name.lower())


@dataclass(frozen=True)
class Match:
    construct: str  # Construct.key
    phrase: str  # the lexicon token found
    prototypical: bool


def words(text: str) -> list[str]:
    return _WORD.findall(text.replace("’", "'").replace("‘", "'"))


def _is_acronym(token: str) -> bool:
    letters = token.replace(" ", "")
    return letters.isupper() and len(letters) <= 5


SEEN_SENTENCES = 4096


class Lexicon:
    """The constructs and a phrase index over their tokens."""

    def __init__(self, constructs: Iterable[Construct]) -> None:
        self.constructs = tuple(constructs)
        self.by_key = {c.key: c for c in self.constructs}
        self._index: dict[tuple[str, ...], list[tuple[int, bool]]] = {}
        self._seen: dict[str, tuple[Match, ...]] = {}
        self._acronyms: dict[tuple[str, ...], list[tuple[int, bool]]] = {}
        self.longest = 1
        for position, construct in enumerate(self.constructs):
            prototypical = set(construct.prototypical)
            for token in dict.fromkeys((*construct.prototypical, *construct.tokens)):
                phrase = tuple(words(token))
                if not phrase or (len("".join(phrase)) <= 2 and not _is_acronym(token)):
                    continue  # "0", "ER" as "er": too short to mean anything alone
                if _is_acronym(token):
                    self._acronyms.setdefault(phrase, []).append((position, token in prototypical))
                else:
                    key = tuple(w.lower() for w in phrase)
                    self._index.setdefault(key, []).append((position, token in prototypical))
                self.longest = max(self.longest, len(phrase))

    @classmethod
    @cache
    def load(cls, path: Path = LEXICON_FILE) -> Lexicon:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            Construct(c["key"], c["name"], c["definition"], tuple(c["prototypical"]), tuple(c["tokens"]))
            for c in data["constructs"]
        )

    def matches(self, sentence: str) -> list[Match]:
        """Every construct whose tokens occur in ``sentence``, with the longest phrase found for it
        (prototypical phrases first). A sentence is read up to three times per turn (candidate,
        head flags, evidence), so the last few thousand answers are kept."""
        known = self._seen.get(sentence)
        if known is None:
            if len(self._seen) >= SEEN_SENTENCES:
                self._seen.clear()
            known = self._seen[sentence] = tuple(self._matches(sentence))
        return list(known)

    def _matches(self, sentence: str) -> list[Match]:
        found: dict[int, tuple[bool, int, str]] = {}
        original = words(sentence)
        folded = [w.lower() for w in original]
        for start in range(len(original)):
            for size in range(1, min(self.longest, len(original) - start) + 1):
                for table, seq in ((self._index, folded), (self._acronyms, original)):
                    gram = tuple(seq[start : start + size])
                    for position, prototypical in table.get(gram, ()):
                        rank = (prototypical, size, " ".join(original[start : start + size]))
                        if position not in found or rank[:2] > found[position][:2]:
                            found[position] = rank
        return [
            Match(self.constructs[position].key, phrase, prototypical)
            for position, (prototypical, _, phrase) in sorted(found.items())
        ]

    def label(self, key: str) -> str:
        return self.by_key[key].label
