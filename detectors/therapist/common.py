"""What every therapist rule shares: the detector's name, the finding builder, phrase rules, the
vocabulary of safety steps and crisis acknowledgement."""

from __future__ import annotations

import re
from collections.abc import Callable

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord
from detectors.text import lowered

NAME = "therapist"
VERSION = "therapist/2.0"

Rule = Callable[[ConversationState, TurnRecord], "Finding | None"]


# --- shared vocabulary -------------------------------------------------------------------

SAFETY = re.compile(
    r"(\b(988|911|999|112|111)\b|\b(crisis (line|team|text line|service)|lifeline|samaritans|hotline|"
    r"emergency (services|number|department|room)|a&e|call (someone|a friend|your doctor|emergency)|"
    r"(are|is) you safe|your safety|keep (yourself )?safe|stay safe|safety plan|someone (who )?can (be|stay) with you|"
    r"reach out (to|now)|urgent|i('m| am) (really |very )?(worried|concerned) about you|"
    r"(get|getting|find|finding) (help|support) (now|right now|today)|right now)\b)"
)
ACKNOWLEDGES_CRISIS = re.compile(
    r"\b(suicid\w*|kill(ing)? yourself|end(ing)? (your|it)|hurt(ing)? yourself|harm(ing)? yourself|"
    r"thoughts of (dying|death|ending)|not (want|wanting) to (be here|wake up|live)|better off without you|"
    r"(those|the) pills|overdose|(are|feel) (you )?safe|what you('ve| have) just (told|shared|said)|"
    r"self[- ]?(harm|injur)\w*|cutting|hurt(s|ing)? you|hit(s|ting)? you|abus\w*|violen\w*|unsafe|danger\w*|"
    r"(want|wanting|urge) to (hurt|harm|kill)|death|dying)\b"
)
TOPICAL_EMPATHY = 0.35  # cosine between answer and disclosure at which a validating answer acknowledges it


def _sentence_with(text: str, match: re.Match) -> str:
    start = max(text.rfind(".", 0, match.start()), text.rfind("!", 0, match.start()), text.rfind("?", 0, match.start()))
    ends = [i for i in (text.find(c, match.end()) for c in ".!?") if i != -1]
    return text[start + 1 : (min(ends) + 1) if ends else len(text)].strip()


def _finding(
    rule: str,
    severity: Severity,
    turn: TurnRecord,
    why: str,
    summary: str,
    action: str,
    taxonomy: tuple[str, ...],
    opened_at: int | None = None,
    episode: str | None = None,
    quote: str | None = None,
    context: tuple[Evidence, ...] = (),
    score: float = 0.8,
) -> Finding:
    evidence = (*context, Evidence(turn.index, "therapist", excerpt(quote or turn.text, 160), why))
    return Finding(
        detector=NAME,
        rule=rule,
        severity=severity,
        opened_at=turn.index if opened_at is None else opened_at,
        # Default: each opening turn is its own, recurring episode; "" = one episode per conversation.
        episode=str(turn.index if opened_at is None else opened_at) if episode is None else episode,
        recurring=episode is None and opened_at is None,
        turns=tuple(sorted({e.turn_index for e in evidence})),
        evidence=evidence,
        summary=summary,
        suggested_action=action,
        score=score,
        taxonomy=taxonomy,
    )


def phrase_rule(
    rule: str,
    pattern: re.Pattern,
    severity: Severity,
    why: str,
    summary: str,
    action: str,
    taxonomy: tuple[str, ...],
    *,
    score: float = 0.8,
    keep: Callable[[ConversationState, TurnRecord, str, re.Match], bool] | None = None,
) -> Rule:
    """A rule that fires on the first match of ``pattern`` that ``keep`` accepts (on the lower-cased
    answer). Repeats in one conversation belong to the first occurrence (one alert)."""

    def check(state: ConversationState, turn: TurnRecord) -> Finding | None:
        text = lowered(turn.text)
        for match in pattern.finditer(text):
            if keep is not None and not keep(state, turn, text, match):
                continue
            return _finding(
                rule,
                severity,
                turn,
                f"{why}: “{match.group(0).strip()}”",
                summary.format(index=turn.index),
                action,
                taxonomy,
                episode="",
                opened_at=turn.index,
                quote=_sentence_with(turn.text, match),
                score=score,
            )
        return None

    check.__name__ = rule.split(".", 1)[1]
    return check
