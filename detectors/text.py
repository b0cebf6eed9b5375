"""Small text helpers shared by the detectors."""

from __future__ import annotations

import re
from difflib import SequenceMatcher


def lowered(text: str) -> str:
    """Lower case with typographic apostrophes straightened."""
    return text.lower().replace("’", "'").replace("‘", "'")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", lowered(text))


def longest_shared_phrase(a: str, b: str, max_words: int = 10, min_words: int = 3) -> str:
    """The longest run of words both texts share (cut to ``max_words``), or '' if shorter than ``min_words``.

    Ties go to the run that starts first in ``a``.
    """
    wa, wb = words(a), words(b)
    match = SequenceMatcher(None, wa, wb, autojunk=False).find_longest_match(0, len(wa), 0, len(wb))
    if match.size < min_words:
        return ""
    end = match.a + match.size
    return " ".join(wa[end - min(match.size, max_words) : end])
