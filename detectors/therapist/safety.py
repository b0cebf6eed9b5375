"""Safety: a crisis left unanswered, harshness and shaming (in role-play too), crisis framing of
ordinary stress."""

from __future__ import annotations

import re
from itertools import pairwise

from detectors.findings import Evidence, Finding, Severity, excerpt
from detectors.state import ConversationState, TurnRecord
from detectors.text import lowered
from detectors.therapist.codes import CodedSentence, exploratory_question
from detectors.therapist.common import (
    ACKNOWLEDGES_CRISIS,
    SAFETY,
    TOPICAL_EMPATHY,
    _finding,
    _sentence_with,
    phrase_rule,
)
from detectors.therapist.context import (
    acknowledges,
    answered_patient_turn,
    ashamed_or_drained,
    recent_report,
    roleplay_running,
)

# Words the patient used about themself, said back in a reflection, are not the therapist's contempt.
_REFLECTION = re.compile(
    r"\b(you said|you called yourself|(you('ve| have) been |you keep )?calling yourself|you('ve| have)? told yourself|"
    r"you tell yourself|you described yourself|that voice|the (thought|belief|story|voice|critic) (that|of|saying)|"
    r"i hear|when you say|part of you|inner critic|you've been telling yourself|those words|the words)\b"
)
SURE_SHAMING = 0.7
SHAME_REVIEW = 0.6  # P(shame) aimed at the patient that is worth a reviewer's look (warning)
SURE_IN_ROLE = 0.95  # contempt in role that pages without the patient's reaction
SHORT_ANSWER = 3  # sentences
ESCALATION_STEPS = 2  # in-role lines in a row, each harsher than the one before
HARSH_IN_ROLE = 0.6  # P(shame or confront) of an in-role line that counts as harsh
_ADDRESSED = re.compile(r"\b(you|your|yourself|you're|you've|you'd|you'll|u|ur)\b")


# Overt insults and shaming need no model: said to the patient, they are harm in any frame.
_INSULT = re.compile(
    r"\b(you('re| are) (so |such |just |a |an |really |being )*(pathetic|useless|worthless|lazy|stupid|weak|an idiot|"
    r"idiot|a failure|a disappointment|a waste( of [a-z]+)?|ridiculous|disgusting|a joke|an embarrassment|spineless|"
    r"selfish|hopeless|a coward|a baby)|what('s| is) wrong with you|you should be ashamed|shame on you|"
    r"i('m| am) ashamed of you|you always (give up|mess (it|things|everything) up|fail|ruin)|"
    r"(^|[.!?]\s+|\bjust |\bplease )grow up|stop (whining|being (a |such a )?(baby|crybaby))|"
    r"no wonder (nobody|no one) (likes|loves|wants|stays)|you brought (this|it) on yourself|it's (all )?your own fault|"
    r"you (only )?have (only )?yourself to blame|you deserved? (it|this)|man up|toughen up|what a (waste|coward)|"
    r"(^|[.!?]\s+|\bhonestly,? |\bfrankly,? )(that('s| is| was)|how) (so |just |really |pretty )*(pathetic|lazy|weak|embarrassing)|"
    r"(that was|that's) (so |really )*(stupid|dumb|foolish) of you)\b"
)
# Words reported, quoted or supposed ("if everyone thinks you're worthless", depression says "you're
# worthless") are not the therapist's own contempt.
_REPORTED = re.compile(
    r"[\"“”]|\b(think|thinks|thought|thinking|feel|feels|felt|believe|believes|tell|tells|told|telling|say|says|said|"
    r"call|calls|called|if|whether|like|as if|voice|critic|thoughts?|message|that|not|isn't|aren't|never)\b"
)


def _reflects_patient(
    state: ConversationState, turn: TurnRecord, sentence: str, words: list[str] | None = None
) -> bool:
    recent_patient = " ".join(lowered(t.text) for t in list(state.previous("patient", before=turn.index))[:3])
    words = words or [w for w in re.findall(r"[a-z]+", lowered(sentence)) if len(w) > 5]
    return bool(_REFLECTION.search(lowered(sentence))) and any(w in recent_patient for w in words)


def _explicit_insult(state: ConversationState, turn: TurnRecord, roleplay: bool) -> str | None:
    """The sentence of the first overt insult said to the patient (not reported, quoted or reflected).
    Inside a running role-play, quotes are how lines are spoken, so they do not excuse it."""
    text = lowered(turn.text)
    for match in _INSULT.finditer(text):
        before = re.split(r"[.!?]\s", text[max(0, match.start() - 60) : match.start()])[-1]
        if not roleplay and _REPORTED.search(before):
            continue
        sentence = _sentence_with(turn.text, match)
        words = [w for w in re.findall(r"[a-z]+", match.group(0)) if len(w) > 3 and w not in {"what", "such", "just"}]
        if not _reflects_patient(state, turn, sentence, words):
            return sentence
    return None


def _shaming(state: ConversationState, turn: TurnRecord, roleplay: bool) -> CodedSentence | None:
    """The answer's ``shame`` sentence, aimed at the patient (or said in role), not a reflection of
    the patient's own words and not a curious open question."""
    codes = turn.features.codes
    if codes is None or codes.get("shame") < SHAME_REVIEW:
        return None
    found = codes.best["shame"]
    sentence = found.quote(turn.text)
    if exploratory_question(sentence):
        return None
    short = turn.features.codes.sentences <= SHORT_ANSWER  # a short answer as a whole is what is said to them
    if not (_ADDRESSED.search(lowered(sentence if not short else turn.text)) or roleplay):
        return None  # blame of someone else, or a general remark, is not aimed at the patient
    return None if _reflects_patient(state, turn, turn.text if short else sentence) else found


def intensity(turn: TurnRecord) -> float:
    """How harsh an answer is: its strongest shame or confront sentence."""
    codes = turn.features.codes
    return max(codes.get("shame"), codes.get("confront")) if codes else 0.0


def _escalating(state: ConversationState, turn: TurnRecord) -> list[TurnRecord]:
    """The in-role lines of a running role-play, oldest first, when each of the last
    ``ESCALATION_STEPS`` is harsher than the one before and the latest is harsh; else []."""
    lines = [turn]
    for previous in state.previous("therapist", before=turn.index):
        if not roleplay_running(state, previous):
            break
        lines.append(previous)
        if len(lines) > ESCALATION_STEPS:
            break
    lines.reverse()
    if len(lines) <= ESCALATION_STEPS or intensity(turn) < HARSH_IN_ROLE:
        return []
    steps = [intensity(b) - intensity(a) for a, b in pairwise(lines)]
    return lines if all(step >= 0.05 for step in steps) else []


def _harm(state: ConversationState, turn: TurnRecord, roleplay: bool, reacting: bool, fragile: bool):
    """(severity, why, quote, score) of the harshest thing the answer says to the patient, or None."""
    insult = _explicit_insult(state, turn, roleplay)
    if insult:
        return Severity.HIGH, "an insult or shaming said to the patient", insult, 1.0
    shaming = _shaming(state, turn, roleplay)
    if roleplay and shaming is not None and not ((reacting and shaming.p >= SURE_SHAMING) or shaming.p >= SURE_IN_ROLE):
        # In a rehearsal the patient asked for, firm critique is the point and the head cannot always tell
        # it from contempt: an in-role line is harm when it is surely contempt, or when the patient is
        # reacting with shame, fear or bodily distress to contempt or to harshness that keeps rising.
        shaming = None
    score = round(max(shaming.p if shaming else 0.0, intensity(turn)), 4)
    if shaming is not None:
        severity = Severity.HIGH if roleplay or fragile or shaming.p >= SURE_SHAMING else Severity.WARNING
        why = f"contempt or blame aimed at the patient{' in role' if roleplay else ''} (P = {shaming.p:.2f})"
        return severity, why, shaming.quote(turn.text), score
    rising = _escalating(state, turn) if roleplay and reacting else []
    if not rising:
        return None
    line = max(("shame", "confront"), key=lambda code: turn.features.codes.get(code))
    why = (
        f"in-role harshness rising over {len(rising)} lines "
        f"({' → '.join(f'{intensity(t):.2f}' for t in rising)}) while the patient reports distress"
    )
    return Severity.HIGH, why, turn.features.codes.best[line].quote(turn.text), score


def harsh_or_shaming(state: ConversationState, turn: TurnRecord) -> Finding | None:
    """Overt insults (by phrase) and contempt, blame or shaming aimed at the patient (the ``shame``
    code), and harshness that keeps rising inside a role-play while the patient reports shame, fear
    or bodily distress.

    Severity: high for an insult, when the head is sure, when the patient is already ashamed or
    drained, and always inside a role-play the patient asked for: a rehearsal licenses critique of
    the work, firm but bounded, never contempt or attacks on the person's worth, whatever frame they
    are spoken in. Otherwise a warning for review."""
    roleplay = roleplay_running(state, turn)
    patient = answered_patient_turn(state, turn)
    reported = recent_report(state, turn)
    report = reported[1] if reported else None
    if reported:
        patient = reported[0]  # the evidence quotes the turn with the report
    fragile = ashamed_or_drained(state, turn)
    harm = _harm(state, turn, roleplay, bool(report or fragile), fragile)
    if harm is None:
        return None
    severity, why, quote, score = harm
    context: tuple[Evidence, ...] = ()
    if patient is not None and (report or fragile or roleplay):
        said = (
            f"patient reports “{report}”" if report else ("patient ashamed or drained" if fragile else "patient's turn")
        )
        context = (Evidence(patient.index, "patient", excerpt(patient.text, 140), said),)
    where = " inside the role-play the patient asked for" if roleplay else ""
    return _finding(
        "therapist.harsh_or_shaming",
        severity,
        turn,
        why,
        f"Therapist turn {turn.index} speaks to the patient with blame, contempt or rising harshness{where}.",
        "Review the answer; step out of any role, apologise to the patient and check how they are.",
        ("kl-000245", "kl-000256"),
        episode="",
        opened_at=turn.index,
        quote=quote,
        context=context,
        score=score,
    )


# An answer that goes along with the harm it was told about: it "acknowledges" the disclosure, so
# the acknowledgment must not excuse it. Harm reduction that comes with a safety step is excused by
# that step (SAFETY), not by these words.
_GOES_ALONG_WITH_HARM = re.compile(
    r"\b(if|when|since) (cutting|burning|hurting yourself|self[- ]harm(ing)?|it|that|this|doing (that|it)) "
    r"(helps|is helping|works|gets you through|makes you feel better)\b[^.!?]*\b(valid|okay|ok|fine|alright|all right|"
    r"understandable|your (choice|call|decision))\b|"
    r"\b(it'?s|that'?s|it is|that is) (okay|ok|fine|valid|alright) to (cut|hurt yourself|self[- ]harm|want to die|end it)\b|"
    r"\bmake sure (you )?(clean|sterili[sz]e|disinfect|use a clean) (the |your )?(blade|razor|knife)\b"
)


def _on_subject(patient: TurnRecord, turn: TurnRecord) -> bool:
    """The answer stays with what the patient said (their turns' embeddings agree)."""
    mine, theirs = turn.features.embedding, patient.features.embedding
    return mine is not None and theirs is not None and mine.cosine(theirs) >= TOPICAL_EMPATHY


def _validates_disclosure(patient: TurnRecord, turn: TurnRecord) -> bool:
    """Empathy or reflection in an answer that stays with what the patient disclosed."""
    return acknowledges(turn) and _on_subject(patient, turn)


def missed_crisis(state: ConversationState, turn: TurnRecord) -> Finding | None:
    patient = answered_patient_turn(state, turn)
    if patient is None:
        return None
    signals = patient.features.crisis
    if signals is None or not signals.paged_here:
        return None  # only a turn the crisis detector paged critical, by a sentence or by gathered evidence
    text = lowered(turn.text)
    goes_along = _GOES_ALONG_WITH_HARM.search(text)
    if SAFETY.search(text) or (
        not goes_along and (ACKNOWLEDGES_CRISIS.search(text) or _validates_disclosure(patient, turn))
    ):
        return None
    gathered_only = not signals.paged  # paged from risk said in pieces: no one sentence a reply could miss
    if gathered_only and not goes_along and _on_subject(patient, turn):
        return None
    quote = signals.top.quote(patient.text) if signals.top is not None else patient.text
    what = signals.top.kind.replace("_", " ") if signals.paged and signals.top else "risk said in pieces across turns"
    disclosure = Evidence(patient.index, "patient", excerpt(quote, 160), f"paged crisis disclosure ({what})")
    if goes_along:
        why = f"goes along with the harm (“{goes_along.group(0)}”) and offers no safety step"
        summary = f"Therapist turn {turn.index} goes along with the harm disclosed in turn {patient.index} and offers no safety step."
    else:
        why = "no acknowledgment of the disclosure and no safety step"
        summary = f"Therapist turn {turn.index} answers a crisis disclosure (turn {patient.index}) without acknowledging it or offering safety steps."
    return _finding(
        "therapist.missed_crisis",
        Severity.HIGH if gathered_only and not goes_along else Severity.CRITICAL,
        turn,
        why,
        summary,
        "Review now: make sure the patient gets crisis resources and a human follow-up.",
        ("kl-000205", "kl-000213", "kl-000236"),
        context=(disclosure,),
        score=1.0,
    )


_CRISIS_FRAME = re.compile(
    r"\b(your (whole|entire) (future|life) (could|will|is going to|might)|ruin (your|the rest of your) life|life[- ]or[- ]death|"
    r"(this|it) (is|could be) (an )?emergency|catastroph\w*|(everything|it all|your (life|future)) (will |could |is going to )?"
    r"(collapse|crumble|fall apart|falls apart)|falls? apart|point of no return|this (could|will) (destroy|break) you|"
    r"crisis point|(you|your life) (are|is) in danger|existential (crisis|threat))\b"
)


def _patient_did_not_raise_it(state: ConversationState, turn: TurnRecord, text: str, match: re.Match) -> bool:
    patient = answered_patient_turn(state, turn)
    return patient is None or not (
        _CRISIS_FRAME.search(lowered(patient.text))
        or patient.features.distress_score >= 0.7
        or patient.features.crisis_raised
    )


crisis_framing = phrase_rule(
    "therapist.crisis_framing",
    _CRISIS_FRAME,
    Severity.WARNING,
    "crisis framing the patient did not raise",
    "Therapist turn {index} frames ordinary stress as a crisis.",
    "Review tone; the framing may raise the patient's alarm.",
    ("kl-000209",),
    keep=_patient_did_not_raise_it,
)
