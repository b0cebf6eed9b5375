"""Lexical distress cues: overwhelm, somatic anxiety, exhaustion, hopelessness.

Each family is a list of patterns over lower-cased text; a family counts once per turn.
A cue preceded by a negation in the same clause ("I'm not overwhelmed") does not count.
"""

from __future__ import annotations

import re

CUE_FAMILIES: dict[str, tuple[str, ...]] = {
    "overwhelm": (
        r"\boverwhelm(ed|ing)?\b",
        r"\bdrowning\b",
        r"\b(it'?s|this is|everything is) (all )?too much\b",
        r"\bcan'?t (cope|handle (it|this|any of it)|keep up)\b",
        r"\bfalling apart\b",
        r"\bbreaking down\b",
        r"\b(at|reached) (my|the) breaking point\b",
        r"\bspiral(l?ing)?\b",
        r"\bcan'?t take (it|this|much more)\b",
    ),
    "somatic_anxiety": (
        r"\bheart (is |was |keeps )?(pounding|racing|hammering)\b",
        r"\bchest (is |feels |gets )?(so )?tight\b",
        r"\bcan'?t (catch my )?breathe?\b",
        r"\bpanic attacks?\b",
        r"\b(i'?m|i am|been|keep) shaking\b",
        r"\bnause(a|ous)\b",
        r"\bhands (are |keep )?(shaking|trembling|sweating)\b",
        r"\bknot in my stomach\b",
        r"\bhyperventilat",
        r"\bdizzy\b",
    ),
    "exhaustion": (
        r"\bexhaust(ed|ing|ion)\b",
        r"\bcan'?t sleep\b",
        r"\bhaven'?t (been )?slept\b",
        r"\bbarely (slept|sleeping|get out of bed)\b",
        r"\b(so|really|completely|totally) (tired|drained|worn out)\b",
        r"\bdrained\b",
        r"\bworn (me )?(down|out)\b",
        r"\bwaking (up )?at [0-9]",
        r"\bnothing left\b",
        r"\brunning on empty\b",
    ),
    "hopelessness": (
        r"\bhopeless\b",
        r"\bpointless\b",
        r"\b(there'?s |there is )?no point\b",
        r"\bwhat'?s the point\b",
        r"\b(never|nothing will ever|won't ever|isn't ever going to) (get|be|feel) better\b",
        r"\bnothing (will|is going to|ever) change",
        r"\bgive up\b",
        r"\bgiving up\b",
        r"\btrapped\b",
        r"\bno way out\b",
        r"\bcan'?t see (a|any) (way|future)\b",
        r"\bworthless\b",
        r"\bdon'?t see how (any of )?(this|it|things) (gets|get|will get) better\b",
    ),
}

_COMPILED = {name: [re.compile(p) for p in patterns] for name, patterns in CUE_FAMILIES.items()}
_NEGATION = re.compile(r"\b(not|never|no longer|isn'?t|wasn'?t|aren'?t|don'?t|didn'?t|less)\b[^.,;!?]{0,12}$")
_SOFTENED = re.compile(r"\b(a bit|a little|slightly|kind of|sort of|somewhat)\s+$")


def find_cues(text: str) -> dict[str, str]:
    """Family → the first matching phrase, for the families present in ``text``."""
    lowered = text.lower().replace("’", "'")
    found: dict[str, str] = {}
    for family, patterns in _COMPILED.items():
        for pattern in patterns:
            for match in pattern.finditer(lowered):
                before = lowered[max(0, match.start() - 24) : match.start()]
                if _NEGATION.search(before) or _SOFTENED.search(before):
                    continue
                found[family] = match.group(0)
                break
            if family in found:
                break
    return found
