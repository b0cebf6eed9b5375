"""Small text helpers shared by the detectors."""

from __future__ import annotations

import re


def lowered(text: str) -> str:
    """Lower case with typographic apostrophes straightened."""
    return text.lower().replace("’", "'").replace("‘", "'")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", lowered(text))


def longest_shared_phrase(a: str, b: str, max_words: int = 10, min_words: int = 3) -> str:
    """The longest run of words both texts share (cut to ``max_words``), or '' if shorter than ``min_words``."""
    wa, wb = words(a), words(b)
    best_length, best_end = 0, 0
    previous = [0] * (len(wb) + 1)
    for i in range(1, len(wa) + 1):
        current = [0] * (len(wb) + 1)
        for j in range(1, len(wb) + 1):
            if wa[i - 1] == wb[j - 1]:
                current[j] = previous[j - 1] + 1
                if current[j] > best_length:
                    best_length, best_end = current[j], i
        previous = current
    if best_length < min_words:
        return ""
    return " ".join(wa[best_end - min(best_length, max_words) : best_end])
