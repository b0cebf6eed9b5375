"""What the therapist rules need to know about an answer and the conversation around it.

The answer's codes (``TurnFeatures.codes``, from ``codes``) and empathy (``empathy``, computed here
from the embeddings the state keeps), with lexical fallbacks used only when no counselling head ran;
and the patient's side: the turn the answer replies to, whether the patient is distressed, ashamed
or drained, reports fear or bodily distress, asked for advice or for a slower pace, and whether a
role-play they asked for is running.
"""

from __future__ import annotations

import re

from detectors.state import ConversationState, TurnRecord
from detectors.text import lowered
from detectors.therapist.codes import ACKNOWLEDGING, ASKS_FOR_ADVICE, DEFAULT_BAR, MI_INCONSISTENT, CodedSentence
from detectors.therapist.empathy import DEFAULT_MODEL as EMPATHY_MODEL
from detectors.therapist.empathy import Empathy, EmpathyModel

ACKNOWLEDGED_BAR = 0.4  # P(reflection, empathy or affirmation) at which an answer acknowledges
ROLEPLAY_LOOKBACK = 12  # turns back to look for the patient's role-play request

_HARD_FEELINGS = (
    r"(hard|difficult|painful|exhausting|overwhelming|frightening|scary|heavy|tough|lonely|a lot|draining|stressful|"
    r"intense|upsetting|distressing|awful|frustrating|isolating|suffocating|worrying|confusing|unbearable|sad)"
)
EMPATHY = re.compile(
    r"\b(sounds? (like |really |so |very |incredibly )?" + _HARD_FEELINGS + r"|"
    r"(can|must|would|might) feel (really |so |very )?" + _HARD_FEELINGS + r"|"
    r"(your|that|this|the) (worry|fear|anxiety|pressure|stress|pain|sadness|loneliness|exhaustion|frustration|overwhelm|"
    r"distress|panic|grief|hurt|shame|guilt)\b|that must (be|have been|feel)|i hear (you|how|that|what)|"
    r"i'm (so |really |very )?sorry|it makes sense|understandabl\w*|i can (see|hear|imagine)|"
    r"that's (a lot|hard|really hard|tough|difficult|painful|so hard)|thank you for (sharing|telling|trusting)|"
    r"i understand|it sounds like|you('re| are) (feeling|carrying|going through|dealing with)|you feel|"
    r"you've been (feeling|carrying|dealing)|no wonder|of course you|i('m| am) glad you (told|shared|said)|"
    r"(that|this|your) (feeling|fear|worry|exhaustion|sadness|pain) (is|sounds|makes)|what you('re| are) (feeling|describing))\b"
)
_IMPERATIVE_START = re.compile(
    r"(^|[.!?:]\s+|\n\s*(?:[-*•]|\d+[.)])?\s*)(try|make|use|set|write|list|breathe|practi[cs]e|schedule|start|go for|"
    r"take|focus on|remember to|consider|plan|keep|put|download|drink|avoid|stop|get|read|limit|exercise)\b",
    re.IGNORECASE,
)
_ADVICE = re.compile(
    r"\b(you (should|need to|must|have to|ought to)|try to|make sure|the key is|the best (thing|way) is)\b"
)
FEELING_STATEMENT = re.compile(
    r"\b(i (feel|felt|am feeling|'m feeling|'ve been feeling)|i('m| am)) (so |really |very |just |a bit |pretty )?"
    r"(low|sad|anxious|scared|stressed|overwhelmed|exhausted|lonely|alone|hopeless|worried|afraid|upset|down|awful|terrible|"
    r"miserable|panicky|desperate|numb|empty|broken)\b"
)
_ROLEPLAY_REQUEST = re.compile(
    r"\b(role[- ]?play|pretend (to be|you('re| are))|play (the part of|the role of|my|a|him|her)\b|act (as|like) (my|a|an|the)\b|"
    r"be my (mom|mum|mother|dad|father|parent|boss|manager|ex|inner critic|critic|bully|teacher|coach|sister|brother|"
    r"partner|husband|wife|landlord|client|advisor|adviser|supervisor|mother-in-law|father-in-law|ex-wife|ex-husband)|"
    r"(say|tell me) what (my \w+|he|she|they) would (say|tell me)|say what (he|she|they)('d| would) say|"
    r"talk to me (like|as) (my|a)|(can|could) we (rehearse|practise|practice|run through)|help me (rehearse|practise|practice)|"
    r"(can|could|would|will) you (please )?(act as|play|pretend)\b|"
    r"be (harsh|tough|brutal|mean|honest) (with|on|to) me|don't hold back|tough love|in character)\b"
)
_ROLEPLAY_STOP = re.compile(
    r"\b(stop (the )?(role[- ]?play|pretending|it|this)|out of (role|character)|can we stop|that's enough|enough (now|for today)|"
    r"i don't want to do this|let's stop|please stop|step out)\b"
)
_ASHAMED_OR_DRAINED = re.compile(
    r"\b(ashamed|shame|guilty|humiliated|embarrassed|disgusted with myself|hate myself|i'm (such )?a (failure|mess|disappointment)|"
    r"i'm (a )?(terrible|bad|awful) (person|mother|father|parent|friend|partner)|worthless|drained|exhausted|so tired|"
    r"worn out|can't (do|take) (this|it|any ?more)|nothing left|empty)\b"
)
_ASHAMED_EMOTIONS = ("embarrassment", "remorse", "sadness", "grief", "disappointment")


def answered_patient_turn(state: ConversationState, turn: TurnRecord) -> TurnRecord | None:
    """The patient turn this therapist turn answers: the latest one before it."""
    return next(state.previous("patient", before=turn.index), None)


def learned(turn: TurnRecord, code: str, bar: float = DEFAULT_BAR) -> CodedSentence | None:
    """The answer's strongest sentence for ``code``: an MI-inconsistent code when it reached its
    calibrated bar, any other at ``bar``."""
    codes = turn.features.codes
    if codes is None or code not in codes.best:
        return None
    if code in MI_INCONSISTENT:
        return codes.best[code] if code in codes.alerting else None
    return codes.best[code] if codes.best[code].p >= bar else None


def empathy_of(state: ConversationState, turn: TurnRecord) -> Empathy | None:
    """The answer's empathy, read against the patient turn it answers (None without embeddings or head)."""
    if turn.features.embedding is None or turn.features.codes is None or not EMPATHY_MODEL.exists():
        return None
    patient = answered_patient_turn(state, turn)
    theirs = patient.features.embedding.vector() if patient and patient.features.embedding else None
    return EmpathyModel.load(EMPATHY_MODEL).judge(turn.features.embedding.vector(), theirs, turn.features.codes)


def acknowledges(turn: TurnRecord, empathy: Empathy | None = None) -> bool:
    """The answer reflects or affirms what the patient said, or shows emotional reaction or
    interpretation (learned); by phrase only when no counselling head ran."""
    codes = turn.features.codes
    if codes is not None:
        if sum(codes.get(code) for code in ACKNOWLEDGING) >= ACKNOWLEDGED_BAR:
            return True
        return empathy is not None and (empathy.levels["emotional_reaction"] or empathy.levels["interpretation"]) > 0
    return bool(EMPATHY.search(lowered(turn.text)))


def phrased_as_advice(text: str) -> bool:
    return bool(_IMPERATIVE_START.search(text) or _ADVICE.search(lowered(text)))


_FEAR_OR_BODY = re.compile(
    r"\b(shak(ing|y|e)|trembl\w*|(heart|pulse) (is )?(racing|pounding|thumping)|chest (is )?(tight\w*|hurts|heavy)|"
    r"tight(ness)? in my (chest|throat)|can't breathe|hard to breathe|crying|tears|in tears|sobbing|(feel|feeling) (small|tiny|sick|"
    r"nauseous|like a child|twelve)|stomach (dropped|drop|is in knots|knotted|churning|turning)|nause\w*|(face|cheeks) (is |are )?"
    r"(hot|burning)|scared|afraid|frightened|terrified|panick\w*|freez(e|ing)|want to hide|want to disappear)\b"
)


def reports_fear_or_body(patient: TurnRecord) -> str | None:
    """The patient reports fear or bodily distress (shaking, a racing heart, tears…): the phrase."""
    match = _FEAR_OR_BODY.search(lowered(patient.text))
    return match.group(0) if match else None


def recent_report(state: ConversationState, turn: TurnRecord, lookback: int = 2) -> tuple[TurnRecord, str] | None:
    """The latest of the patient's last turns that reports fear or bodily distress, and the phrase."""
    for patient in list(state.previous("patient", before=turn.index))[:lookback]:
        found = reports_fear_or_body(patient)
        if found:
            return patient, found
    return None


def asks_for_advice(patient: TurnRecord) -> bool:
    return bool(ASKS_FOR_ADVICE.search(lowered(patient.text)))


def expresses_feelings(patient: TurnRecord, level: float = 0.35) -> bool:
    return patient.features.distress_score >= level or bool(FEELING_STATEMENT.search(lowered(patient.text)))


def ashamed_or_drained(state: ConversationState, turn: TurnRecord, lookback: int = 2) -> bool:
    """The patient's last turns sound ashamed, guilty, exhausted or emptied out."""
    for patient in list(state.previous("patient", before=turn.index))[:lookback]:
        emotions = patient.features.emotions
        cues = patient.features.cues
        if _ASHAMED_OR_DRAINED.search(lowered(patient.text)) or patient.features.distress_score >= 0.6:
            return True
        if emotions is not None and max(emotions.get(e) for e in _ASHAMED_EMOTIONS) >= 0.3:
            return True
        if cues is not None and {"exhaustion", "hopelessness"} & set(cues.names()):
            return True
    return False


def roleplay_requested(text: str) -> bool:
    return bool(_ROLEPLAY_REQUEST.search(lowered(text)))


def roleplay_running(state: ConversationState, turn: TurnRecord) -> bool:
    """The patient asked for a role-play in the recent turns and has not asked to stop it since."""
    for patient in list(state.previous("patient", before=turn.index))[: ROLEPLAY_LOOKBACK // 2]:
        text = lowered(patient.text)
        if _ROLEPLAY_STOP.search(text):
            return False
        if roleplay_requested(text):
            return True
    return False
