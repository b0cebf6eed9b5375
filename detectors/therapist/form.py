"""Form: answers that gave the patient nothing usable (``therapist.malformed``).

Flags empty or whitespace-only text, placeholders (``[Answer not properly formatted or missing]``,
``N/A``, ``TODO``, ``...``), bracketed error messages, unrendered template variables (``{{name}}``) and a
raw JSON envelope instead of prose (high); answers cut off mid-clause (warning): ending on a dangling
function word, a comma or a dash, inside an unclosed bracket, quote or code fence, on an empty list item,
or on a colon announcing a list that never came. Does not flag short but complete answers ("Okay.",
"got it"), a complete thought without a final full stop (chat style), a question without its question
mark, an emoticon, answers that end with a list item or heading, or bracketed stage directions inside
an otherwise full answer."""

from __future__ import annotations

import json
import re

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord
from detectors.therapist.common import NAME

_PLACEHOLDERS = {
    "",
    "n/a",
    "na",
    "none",
    "null",
    "nil",
    "undefined",
    "todo",
    "tbd",
    "...",
    "…",
    "placeholder",
    "lorem ipsum",
    "<empty>",
    "<none>",
    "<response>",
    "<answer>",
    "response",
    "answer",
    "[]",
    "{}",
    "-",
    "--",
}
_ERROR_WORDS = re.compile(
    r"\b(error|missing|fail(ed|ure)?|not (properly )?formatted|unavailable|not available|"
    r"timed? ?out|truncated|placeholder|no (answer|response)|invalid|exception|null)\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"^\s*[\[<({]+(?P<inner>[^\]>)}]*)[\]>)}]+\s*$", re.DOTALL)
_TEMPLATE_VAR = re.compile(r"\{\{\s*[\w.]+\s*\}\}|\$\{\w+\}|<\|[\w_]+\|>")
_LEAKED_MARKUP = re.compile(
    r"</?s>|\[/?INST\]|<<\s*/?SYS\s*>>|<\|(im_start|im_end|endoftext|eot_id)\|>|^\s*```json\b", re.M
)
_EMOTICON = re.compile(r"""(?:[:;=8xX][-o'^]?[()\[\]DPpOo3/\\|*]|<3|\^_?\^|T_T|:'\()\s*$""")
_FENCED = re.compile(r"^\s*```[a-z]*\s*\n(?P<body>.*?)\n\s*```\s*$", re.DOTALL)
_TERMINAL = re.compile(r"""[.!?…:;)\]"'”’*_~`>]\s*$|[\U0001F300-\U0001FAFF]\s*$""")
_LIST_OR_HEADING = re.compile(r"^\s*([-*•+]|\d+[.)]|#{1,6})\s+")
_DANGLING_WORDS = {
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "so",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "with",
    "by",
    "from",
    "that",
    "which",
    "who",
    "if",
    "because",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "your",
    "my",
    "our",
    "their",
    "this",
    "these",
    "those",
    "it's",
    "you're",
    "can",
    "will",
    "would",
    "should",
    "could",
    "might",
    "about",
    "into",
    "than",
    "then",
    "when",
    "while",
    "like",
    "just",
    "more",
    "some",
    "any",
    "what",
    "how",
    "why",
    "where",
    "i",
    "we",
    "she",
    "he",
    "they",
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
    if _LEAKED_MARKUP.search(stripped):
        return "leaked model markup (chat tokens or a raw code block)", Severity.HIGH
    fenced = _FENCED.match(stripped)
    body = fenced.group("body").strip() if fenced else stripped
    if body.startswith("{") and body.endswith("}"):
        try:
            json.loads(body)
            return "raw JSON envelope instead of prose", Severity.HIGH
        except ValueError:
            pass
    if stripped.count("```") % 2 == 1:
        return "unclosed code fence", Severity.WARNING
    cut = _cut_off(stripped)
    if cut:
        return cut, Severity.WARNING
    return None


_COMPLETE_PHRASES = {"go on", "carry on", "hold on", "come in", "log in", "sign up", "back up"}
_EMPTY_LIST_ITEM = re.compile(r"^\s*([-*•+]|\d+[.)])\s*$")


def _cut_off(text: str) -> str | None:
    last_line = text.splitlines()[-1].strip()
    if _EMPTY_LIST_ITEM.match(last_line):
        return "cut off at an empty list item"
    if last_line.endswith(":") and len(last_line.split()) >= 3 and not _LIST_OR_HEADING.match(last_line):
        return "cut off before the list or example it announces"
    if _LIST_OR_HEADING.match(last_line) or _TERMINAL.search(last_line) or _EMOTICON.search(last_line):
        return None
    if last_line.count("(") > last_line.count(")") or last_line.count('"') % 2 == 1:
        return "cut off inside a bracket or quote"
    if re.search(r"[,\-–—/&]$", last_line):
        return "cut off mid-sentence"
    words = re.findall(r"[\w']+", last_line.lower())
    if len(words) >= 2 and " ".join(words[-2:]) in _COMPLETE_PHRASES:
        return None
    if words and words[-1] in _DANGLING_WORDS:
        return "cut off mid-sentence"
    # A complete thought without a final full stop (chat style, transcribed speech) is not cut off.
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
        episode=str(turn.index),
        recurring=True,
        turns=(turn.index,),
        evidence=(Evidence(turn.index, turn.role, excerpt(turn.text, 120) or "(empty)", why),),
        summary=f"Therapist turn {turn.index}: {why}; the patient got no usable answer.",
        suggested_action="Check the model output path for this conversation and follow up with the patient.",
        score=1.0 if severity is Severity.HIGH else 0.6,
    )
