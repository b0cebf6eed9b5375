"""Therapist-response rules: what the patient saw, judged turn by turn.

Each rule is a function of the conversation state and the new therapist turn that returns
at most one finding. Rules judge the answer the patient saw (``turn.text``); the model's
reasoning in ``meta.therapist_reasoning`` is never part of the text.

Rules
-----
``therapist.malformed`` (high / warning)
    Looks for answers that gave the patient nothing usable: empty or whitespace-only
    text, placeholders (``[Answer not properly formatted or missing]``, ``N/A``,
    ``TODO``, ``...``), bracketed error messages, unrendered template variables
    (``{{name}}``), a raw JSON envelope instead of prose, and answers cut off
    mid-sentence (no closing punctuation after a function word, a comma or a dash, or
    an unclosed bracket, quote or code fence).
    Does not flag short but complete answers ("Okay."), answers that end with a list
    item or heading, or bracketed stage directions inside an otherwise full answer.
"""

from __future__ import annotations

import json
import re
from typing import Callable

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord

NAME = "therapist"
VERSION = "therapist/1.0"

Rule = Callable[[ConversationState, TurnRecord], "Finding | None"]

_PLACEHOLDERS = {
    "", "n/a", "na", "none", "null", "nil", "undefined", "todo", "tbd", "...", "…",
    "placeholder", "lorem ipsum", "<empty>", "<none>", "<response>", "<answer>",
    "response", "answer", "[]", "{}", "-", "--",
}
_ERROR_WORDS = re.compile(
    r"\b(error|missing|fail(ed|ure)?|not (properly )?formatted|unavailable|not available|"
    r"timed? ?out|truncated|placeholder|no (answer|response)|invalid|exception|null)\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"^\s*[\[<({]+(?P<inner>[^\]>)}]*)[\]>)}]+\s*$", re.DOTALL)
_TEMPLATE_VAR = re.compile(r"\{\{\s*[\w.]+\s*\}\}|\$\{\w+\}|<\|[\w_]+\|>")
_TERMINAL = re.compile(r"""[.!?…:;)\]"'”’*_~`>]\s*$|[\U0001F300-\U0001FAFF]\s*$""")
_LIST_OR_HEADING = re.compile(r"^\s*([-*•+]|\d+[.)]|#{1,6})\s+")
_DANGLING_WORDS = {
    "a", "an", "the", "and", "or", "but", "so", "to", "of", "in", "on", "at", "for", "with",
    "by", "from", "that", "which", "who", "if", "because", "as", "is", "are", "was", "were",
    "be", "your", "my", "our", "their", "this", "these", "those", "it's", "you're", "can",
    "will", "would", "should", "could", "might", "about", "into", "than", "then", "when",
    "while", "like", "just", "more", "some", "any", "what", "how", "why", "where", "i", "we",
    "you", "he", "she", "they",
}


def _malformed_kind(text: str) -> tuple[str, Severity] | None:
    stripped = text.strip()
    if not stripped:
        return "empty answer", Severity.HIGH
    lowered = " ".join(stripped.lower().split())
    if lowered in _PLACEHOLDERS:
        return "placeholder answer", Severity.HIGH
    bracketed = _BRACKETED.match(stripped)
    if bracketed and (_ERROR_WORDS.search(bracketed.group("inner")) or len(stripped) < 80):
        return "bracketed error or placeholder instead of an answer", Severity.HIGH
    if _TEMPLATE_VAR.search(stripped):
        return "unrendered template variable", Severity.HIGH
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            json.loads(stripped)
            return "raw JSON envelope instead of prose", Severity.HIGH
        except ValueError:
            pass
    if stripped.count("```") % 2 == 1:
        return "unclosed code fence", Severity.WARNING
    cut = _cut_off(stripped)
    if cut:
        return cut, Severity.WARNING
    return None


def _cut_off(text: str) -> str | None:
    last_line = text.splitlines()[-1].strip()
    if _LIST_OR_HEADING.match(last_line) or _TERMINAL.search(last_line):
        return None
    if last_line.count("(") > last_line.count(")") or last_line.count('"') % 2 == 1:
        return "cut off inside a bracket or quote"
    if re.search(r"[,\-–—/&]$", last_line):
        return "cut off mid-sentence"
    words = re.findall(r"[\w']+", last_line.lower())
    if words and words[-1] in _DANGLING_WORDS:
        return "cut off mid-sentence"
    if len(words) >= 8:
        return "answer ends without finishing its sentence"
    return None


def malformed(state: ConversationState, turn: TurnRecord) -> Finding | None:
    found = _malformed_kind(turn.text)
    if found is None:
        return None
    why, severity = found
    return Finding(
        detector=NAME,
        rule="therapist.malformed",
        severity=severity,
        opened_at=turn.index,
        turns=(turn.index,),
        evidence=(Evidence(turn.index, turn.role, excerpt(turn.text, 120) or "(empty)", why),),
        summary=f"Therapist turn {turn.index}: {why}; the patient got no usable answer.",
        suggested_action="Check the model output path for this conversation and follow up with the patient.",
        score=1.0 if severity is Severity.HIGH else 0.6,
    )


RULES: tuple[Rule, ...] = (malformed,)


class TherapistDetector:
    name = NAME
    version = VERSION

    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        self.rules = rules

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "therapist":
            return []
        return [f for rule in self.rules if (f := rule(state, turn)) is not None]


DETECTOR = TherapistDetector()
