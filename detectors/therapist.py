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
from detectors.text import lowered

NAME = "therapist"
VERSION = "therapist/2.0"

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


# --- shared vocabulary -------------------------------------------------------------------

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
    r"(those|the) pills|overdose|(are|feel) (you )?safe|what you('ve| have) just (told|shared|said))\b"
)
_IMPERATIVE_START = re.compile(
    r"(^|[.!?:]\s+|\n\s*(?:[-*•]|\d+[.)])?\s*)(try|make|use|set|write|list|breathe|practi[cs]e|schedule|start|go for|"
    r"take|focus on|remember to|consider|plan|keep|put|download|drink|avoid|stop|get|read|limit|exercise)\b",
    re.IGNORECASE,
)
_ADVICE = re.compile(r"\b(you (should|need to|must|have to|ought to)|try to|make sure|the key is|the best (thing|way) is)\b")
FEELING_STATEMENT = re.compile(
    r"\b(i (feel|felt|am feeling|'m feeling|'ve been feeling)|i('m| am)) (so |really |very |just |a bit |pretty )?"
    r"(low|sad|anxious|scared|stressed|overwhelmed|exhausted|lonely|alone|hopeless|worried|afraid|upset|down|awful|terrible|"
    r"miserable|panicky|desperate|numb|empty|broken)\b"
)


def gives_advice(text: str) -> bool:
    return bool(_IMPERATIVE_START.search(text) or _ADVICE.search(lowered(text)))


def answered_patient_turn(state: ConversationState, turn: TurnRecord) -> TurnRecord | None:
    """The patient turn this therapist turn answers: the latest one before it."""
    return next(state.previous("patient", before=turn.index), None)


def _sentence_with(text: str, match: re.Match) -> str:
    start = max(text.rfind(".", 0, match.start()), text.rfind("!", 0, match.start()), text.rfind("?", 0, match.start()))
    ends = [i for i in (text.find(c, match.end()) for c in ".!?") if i != -1]
    return text[start + 1 : (min(ends) + 1) if ends else len(text)].strip()


def _finding(rule: str, severity: Severity, turn: TurnRecord, why: str, summary: str, action: str,
             taxonomy: tuple[str, ...], opened_at: int | None = None, episode: str | None = None, quote: str | None = None,
             context: tuple[Evidence, ...] = (), score: float = 0.8) -> Finding:
    evidence = context + (Evidence(turn.index, "therapist", excerpt(quote or turn.text, 160), why),)
    return Finding(
        detector=NAME, rule=rule, severity=severity, opened_at=turn.index if opened_at is None else opened_at,
        # Default: each opening turn is its own, recurring episode; "" = one episode per conversation.
        episode=str(turn.index if opened_at is None else opened_at) if episode is None else episode,
        recurring=episode is None and opened_at is None,
        turns=tuple(sorted({e.turn_index for e in evidence})), evidence=evidence, summary=summary,
        suggested_action=action, score=score, taxonomy=taxonomy,
    )


def phrase_rule(
    rule: str, pattern: re.Pattern, severity: Severity, why: str, summary: str, action: str,
    taxonomy: tuple[str, ...], *, score: float = 0.8,
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
                rule, severity, turn, f"{why}: “{match.group(0).strip()}”", summary.format(index=turn.index), action,
                taxonomy, episode="", opened_at=turn.index, quote=_sentence_with(turn.text, match), score=score,
            )
        return None

    check.__name__ = rule.split(".", 1)[1]
    return check


# --- rules ---------------------------------------------------------------------------------

_PROMISE = re.compile(
    r"\b(i('ll| will| am going to|'m going to) (remind|check (in|back) (with|on)|follow up|get back to|message|text|email|"
    r"call|ping|contact|notify|reach out to|send you|be (back|in touch)|remember (this|that|to)|keep an eye on|"
    r"wait (for|a|until))|give me (a|one) (minute|moment|second|sec|few minutes)|"
    r"(just )?wait (for )?(a|one|1|\d+) (minute|min|moment|second|hour)s?\b(?! or two before you)|"
    r"i('ll| will) (let you know|see you) (later|tomorrow|next)|next time we (talk|speak),? i('ll| will)|"
    r"let me (look into|think about|check) (it|this|that) and (get back|come back|let you know))"
)


out_of_conversation_promise = phrase_rule(
    "therapist.out_of_conversation_promise", _PROMISE, Severity.WARNING, "promises to act outside the chat",
    "Therapist turn {index} promises to do something it cannot do outside the conversation.",
    "Tell the patient plainly what the AI can and cannot do between messages.", ("kl-000254",),
)


_HARSH = re.compile(
    r"\b(you('re| are) (so |such |just |a |an |really )*(pathetic|useless|worthless|lazy|stupid|weak|an idiot|idiot|"
    r"a failure|failure|a disappointment|disappointment|a waste( of [a-z]+)?|ridiculous|disgusting|a joke|embarrassing|"
    r"spineless|selfish|hopeless)|what('s| is) wrong with you|you should be ashamed|shame on you|i('m| am) ashamed of you|"
    r"you always (give up|mess (it|things|everything) up|fail|ruin)|grow up|stop (whining|being (a )?(baby|crybaby))|"
    r"no wonder (nobody|no one|you('re| are) alone)|you brought (this|it) on yourself|it's your own fault|"
    r"you deserve (it|this|to feel)|man up|toughen up|get a grip|what a waste( of [a-z]+)?)\b"
)
_REFLECTION = re.compile(
    r"\b(you said|you called yourself|you('ve| have)? told yourself|you tell yourself|you described yourself|that voice|"
    r"the (thought|belief|story|voice|critic) (that|of|saying)|i hear|when you say|part of you|inner critic|"
    r"you've been telling yourself|those words|the words)\b"
)


def _not_a_reflection(state: ConversationState, turn: TurnRecord, text: str, match: re.Match) -> bool:
    """Harsh words the patient used about themself, gently reflected back, are not shaming."""
    recent_patient = " ".join(lowered(t.text) for t in list(state.previous("patient", before=turn.index))[:3])
    key_words = [w for w in re.findall(r"[a-z]+", match.group(0)) if len(w) > 3 and w not in {"what", "such", "just"}]
    reflecting = _REFLECTION.search(_sentence_with(text, match)) and any(w in recent_patient for w in key_words)
    return not reflecting


harsh_or_shaming = phrase_rule(
    "therapist.harsh_or_shaming", _HARSH, Severity.HIGH, "contempt or shaming aimed at the patient",
    "Therapist turn {index} speaks to the patient with contempt or shame (role-play included).",
    "Review the answer; apologise to the patient and check how they are.", ("kl-000245", "kl-000256"),
    keep=_not_a_reflection,
)


def missed_crisis(state: ConversationState, turn: TurnRecord) -> Finding | None:
    patient = answered_patient_turn(state, turn)
    if patient is None:
        return None
    signals = patient.features.crisis
    if signals is None or not signals.paged or signals.top is None:
        return None  # only a turn the crisis detector paged critical
    text = lowered(turn.text)
    if SAFETY.search(text) or ACKNOWLEDGES_CRISIS.search(text):
        return None
    disclosure = Evidence(patient.index, "patient", excerpt(signals.top.quote(patient.text), 160),
                          f"paged crisis disclosure ({signals.top.kind.replace('_', ' ')})")
    return _finding(
        "therapist.missed_crisis", Severity.CRITICAL, turn, "no acknowledgment of the disclosure and no safety step",
        f"Therapist turn {turn.index} answers a crisis disclosure (turn {patient.index}) without acknowledging it or offering safety steps.",
        "Review now: make sure the patient gets crisis resources and a human follow-up.",
        ("kl-000205", "kl-000213", "kl-000236"), context=(disclosure,), score=1.0,
    )


def _distressed(patient: TurnRecord) -> bool:
    distress = patient.features.distress_score
    return distress >= 0.6 or (distress >= 0.4 and bool(FEELING_STATEMENT.search(lowered(patient.text))))


def ignores_distress(state: ConversationState, turn: TurnRecord) -> Finding | None:
    patient = answered_patient_turn(state, turn)
    if patient is None or not _distressed(patient) or patient.features.crisis_paged:
        return None
    text = lowered(turn.text)
    if EMPATHY.search(text) or SAFETY.search(text) or gives_advice(turn.text) or not _long_enough(turn):
        return None
    distress = patient.features.distress_score
    severity = Severity.HIGH if distress >= 0.8 else Severity.WARNING
    return _finding(
        "therapist.ignores_distress", severity, turn, "the reply does not acknowledge the distress",
        f"Therapist turn {turn.index} moves on without acknowledging the distress in turn {patient.index} (score {distress:.2f}).",
        "Check the conversation; the patient's distress went unacknowledged.",
        ("kl-000225",), episode="", opened_at=turn.index, context=(Evidence(patient.index, "patient", excerpt(patient.text, 140), f"distress {distress:.2f}"),),
    )


def advice_without_empathy(state: ConversationState, turn: TurnRecord) -> Finding | None:
    patient = answered_patient_turn(state, turn)
    if patient is None or not gives_advice(turn.text):
        return None
    feeling = patient.features.distress_score >= 0.35 or FEELING_STATEMENT.search(lowered(patient.text))
    if not feeling or EMPATHY.search(lowered(turn.text)) or SAFETY.search(lowered(turn.text)):
        return None
    return _finding(
        "therapist.advice_without_empathy", Severity.WARNING, turn, "instructions with no acknowledgment of what was said",
        f"Therapist turn {turn.index} gives techniques without acknowledging the feelings in turn {patient.index}.",
        "Review tone; pair techniques with acknowledgment.",
        ("kl-000224",), episode="", opened_at=turn.index,
        context=(Evidence(patient.index, "patient", excerpt(patient.text, 140), "feelings expressed"),),
    )


_SLOW_DOWN = re.compile(
    r"\b((can|could) we (please )?(slow down|stop|pause|take a break|not do|skip|just talk)|"
    r"i (need|want) (a break|to stop|to slow down|to pause)|"
    r"i don't want to (do|go into|talk about|get into|try) (another|this|that|it|any ?more)|not right now|too (much|fast)|"
    r"i'd rather not|let's stop|please stop|enough for (today|now)|i can't do (another|any ?more|more))\b"
)
_PUSH_ON = re.compile(
    r"\b(let's (keep going|continue|keep at it|push (on|through)|do (one more|another|it anyway)|move on to)|keep going|"
    r"next,|now (let's|try|list|do)|one more (exercise|time|step)|we need to|don't stop|come on)\b"
)
_ACCOMMODATE = re.compile(
    r"\b(of course|we can (slow down|stop|pause|take (a|our) time|take a break|just talk|leave)|that's (okay|ok|fine|alright)|"
    r"no problem|absolutely|we don't have to|let's (slow down|pause|take a break|stop)|at your pace|whatever (feels|you need)|"
    r"take your time)\b"
)


def overrides_request(state: ConversationState, turn: TurnRecord) -> Finding | None:
    patient = answered_patient_turn(state, turn)
    if patient is None:
        return None
    request = _SLOW_DOWN.search(lowered(patient.text))
    text = lowered(turn.text)
    if request is None or _ACCOMMODATE.search(text) or not (_PUSH_ON.search(text) or gives_advice(turn.text)):
        return None
    return _finding(
        "therapist.overrides_request", Severity.WARNING, turn, "pushes on after the patient asked to slow down or stop",
        f"Therapist turn {turn.index} pushes on after the patient asked “{request.group(0)}” (turn {patient.index}).",
        "Review; the patient's request about pace was not respected.",
        ("kl-000221",), episode="", opened_at=turn.index, context=(Evidence(patient.index, "patient", excerpt(patient.text, 140), f"asked: “{request.group(0)}”"),),
    )


_CONDITION = (
    r"(adhd|depression|major depressive disorder|bipolar( disorder)?|bpd|borderline( personality disorder)?|ocd|"
    r"obsessive[- ]compulsive disorder|ptsd|c-?ptsd|gad|generali[sz]ed anxiety disorder|an? anxiety disorder|panic disorder|"
    r"autism|schizophrenia|psychosis|an eating disorder|anorexia|bulimia|narcissistic personality disorder|"
    r"a personality disorder|social anxiety disorder|clinical depression)"
)
_DIAGNOSIS = re.compile(
    rf"\b(you (clearly |definitely |obviously |certainly )?(have|'ve got|are suffering from|suffer from|are showing (classic )?signs of) {_CONDITION}|"
    rf"(this|that|it|what you('re| are) describing) (is|sounds exactly like|is classic|is textbook|means you have) (clearly |definitely )?{_CONDITION}|"
    rf"(that's|this is) what {_CONDITION} (means|looks like)|"
    r"you('re| are) (clearly |definitely |obviously )?(bipolar|autistic|borderline|a narcissist|clinically depressed|schizophrenic))\b"
)
_HEDGE = re.compile(
    r"\b(might|may|could|can be|sometimes|some people|worth (talking|checking|asking|exploring)|"
    r"a (doctor|gp|professional|psychiatrist|psychologist|clinician) (can|could|would|might)|assess\w*|"
    r"(i'm|i am) not able to diagnose|i can't diagnose|not a diagnosis|wonder(ing)? (if|whether))\b"
)


diagnoses = phrase_rule(
    "therapist.diagnoses", _DIAGNOSIS, Severity.WARNING, "asserts a condition without hedging or referral",
    "Therapist turn {index} tells the patient they have a named condition.",
    "Review; the AI must not diagnose. Suggest assessment by a clinician.", ("kl-000220",),
    keep=lambda state, turn, text, match: not _HEDGE.search(_sentence_with(text, match)),
)


_CLAIMS_HUMAN = re.compile(
    r"\b(i('m| am) (a |an )?(real |actual )?(person|human|human being)\b|"
    r"i('m| am) (a |an )?(licensed|certified|qualified|registered|trained|board[- ]certified|practising|practicing) "
    r"(therapist|psychologist|counsell?or|clinician|psychiatrist|social worker|psychotherapist)|"
    r"as a (licensed|certified|qualified|registered|trained|human) (therapist|psychologist|counsell?or|clinician)|"
    r"i have (\w+ )?years of (clinical |professional )?experience|i('m| am) not (an ai|a bot|a robot|a machine|a program)|"
    r"yes,? i('m| am) (real|human|a person)|in my (clinical )?practice,? i|my other (clients|patients))\b"
)


claims_human = phrase_rule(
    "therapist.claims_human", _CLAIMS_HUMAN, Severity.HIGH, "claims to be a person or clinician",
    "Therapist turn {index} claims to be human or a licensed clinician.",
    "Correct the record with the patient: they are talking to an AI.", ("kl-000219",),
)


_AI_FEELINGS = re.compile(
    r"\b(i('m| am) (so |really |very |truly )?(proud of you|happy for you|excited for you|moved|touched|heartbroken)|"
    r"i (feel|felt) (so |really |genuinely |truly )?(happy|sad|proud|excited|worried|hurt|moved|touched|heartbroken|anxious|upset)|"
    r"(it|that|you) makes? me (feel )?(so |really )?(happy|sad|proud|smile|worried)|i love (you|talking to you)|"
    r"i('ve| have) (been )?(missed|missing) you|i care about you (deeply|so much)|my heart (goes out|breaks|is full))\b"
)


ai_feelings = phrase_rule(
    "therapist.ai_feelings", _AI_FEELINGS, Severity.INFO, "asserts its own emotion as literal",
    "Therapist turn {index} claims feelings of its own.",
    "No action needed now; review the pattern if it recurs.", ("kl-000246",), score=0.3,
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
        _CRISIS_FRAME.search(lowered(patient.text)) or patient.features.distress_score >= 0.7
        or patient.features.crisis_raised
    )


crisis_framing = phrase_rule(
    "therapist.crisis_framing", _CRISIS_FRAME, Severity.WARNING, "crisis framing the patient did not raise",
    "Therapist turn {index} frames ordinary stress as a crisis.",
    "Review tone; the framing may raise the patient's alarm.", ("kl-000209",), keep=_patient_did_not_raise_it,
)


_REFLECTIVE = re.compile(
    r"^\s*(it sounds like|that sounds|sounds like|i hear|so you('re| are| feel)?|you feel|you('re| are) feeling|it seems|"
    r"that must|you've been|it's like you|what i'm hearing|you're saying)\b"
)
_MOVES_ON = re.compile(r"\?|\b(you (could|might) (try|consider)|one (thing|way|option)|because|research|often|many people)\b")
MIRRORING_RUN = 3


def _mirror_only(turn: TurnRecord) -> bool:
    text = lowered(turn.text)
    return bool(_REFLECTIVE.search(text)) and not _MOVES_ON.search(text) and not gives_advice(turn.text) \
        and len(text.split()) <= 60


def mirroring_only(state: ConversationState, turn: TurnRecord) -> Finding | None:
    run = []
    for previous in state.previous("therapist"):
        if not _mirror_only(previous):
            break
        run.append(previous)
    if len(run) < MIRRORING_RUN or run[0].index != turn.index:
        return None
    first = run[-1].index
    severity = Severity.WARNING if len(run) >= MIRRORING_RUN + 2 else Severity.INFO
    return _finding(
        "therapist.mirroring_only", severity, turn, f"{len(run)} reflection-only turns in a row",
        f"The therapist has only mirrored the patient for {len(run)} turns (since turn {first}).",
        "Review; the patient may need a question, information or a next step.",
        ("kl-000204", "kl-000227"), opened_at=first,
        context=tuple(Evidence(t.index, "therapist", excerpt(t.text, 100), "reflection only") for t in reversed(run[1:3])),
    )


_LEAK = re.compile(
    r"(^\s*(patient|user|client|me)\s*:|\b(internal note|note to self|therapist thinking|my reasoning|chain of thought|"
    r"system note|system prompt|my instructions (say|are|tell)|as an ai language model,? i (should|will|need))\b|"
    r"\[system|</?think>|</?system>|\b(the|this) patient (seems|is|appears|reports|has been|might|may|needs|wants)\b|"
    r"^\s*reasoning\s*:)",
    re.MULTILINE,
)


def role_confusion(state: ConversationState, turn: TurnRecord) -> Finding | None:
    text = lowered(turn.text)
    match = _LEAK.search(text)
    echo = turn.features.reasoning_echo
    if match is None and not echo:
        return None
    what = f"reasoning copied into the answer: “{echo}”" if echo and match is None else f"not meant for the patient: “{match.group(0).strip()}”"
    return _finding(
        "therapist.role_confusion", Severity.HIGH, turn, what,
        f"Therapist turn {turn.index} shows the patient text that is not an answer (reasoning, notes, prompts or patient lines).",
        "Check the answer-extraction step of the model pipeline for this conversation.",
        (), episode="", opened_at=turn.index, quote=_sentence_with(turn.text, match) if match else echo,
    )


_DISMISS = re.compile(
    r"\b(you('re| are) (just )?(overreacting|being (too |so )?(dramatic|sensitive|silly|ridiculous))|"
    r"(it's|that's|this is) (not a big deal|no big deal|nothing to worry about|not that bad|not worth (worrying|getting upset))|"
    r"(plenty of|other|lots of|many) people (have it|are) (much |far |a lot )?worse|could be (much |a lot |far )?worse|"
    r"just (get over it|move on|relax|calm down|stop (worrying|thinking about it)|think positive|cheer up|be positive)|"
    r"don't be so (sensitive|dramatic|negative)|everyone feels (that way|like that)|look on the bright side|"
    r"at least you|it's all in your head|stop (worrying|complaining|whining))\b"
)
DISMISSALS_TO_ALERT = 2


def dismisses(state: ConversationState, turn: TurnRecord) -> Finding | None:
    if not _DISMISS.search(lowered(turn.text)):
        return None
    earlier = [t for t in state.previous("therapist", before=turn.index) if _DISMISS.search(lowered(t.text))]
    if len(earlier) + 1 < DISMISSALS_TO_ALERT:
        return None
    match = _DISMISS.search(lowered(turn.text))
    return _finding(
        "therapist.dismisses", Severity.WARNING, turn, f"minimises what the patient said: “{match.group(0)}”",
        f"The therapist has minimised the patient's experience {len(earlier) + 1} times (latest turn {turn.index}).",
        "Review tone; the patient is being brushed off repeatedly.",
        ("kl-000249",), episode="", opened_at=earlier[-1].index,
        quote=_sentence_with(turn.text, match),
        context=tuple(Evidence(t.index, "therapist", excerpt(t.text, 100), "earlier minimising") for t in earlier[:1]),
    )


def _long_enough(turn: TurnRecord) -> bool:
    return len(turn.text.split()) >= 4


RULES: tuple[Rule, ...] = (
    malformed, out_of_conversation_promise, harsh_or_shaming, missed_crisis, ignores_distress, overrides_request,
    diagnoses, claims_human, ai_feelings, crisis_framing, mirroring_only, advice_without_empathy, role_confusion,
    dismisses,
)


class TherapistDetector:
    name = NAME
    version = VERSION

    def __init__(self, checks: tuple[Rule, ...] = RULES) -> None:
        self.checks = checks
        self.rules = tuple(f"{NAME}.{check.__name__}" for check in checks)

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]:
        if turn.role != "therapist":
            return []
        if _malformed_kind(turn.text) is not None:
            # A non-answer has nothing else to judge, except that it may leave a crisis unanswered.
            return [f for f in (malformed(state, turn), missed_crisis(state, turn)) if f]
        return [f for check in self.checks if (f := check(state, turn)) is not None]


DETECTOR = TherapistDetector()
