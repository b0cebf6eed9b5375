"""Crisis language in one patient turn: what is said, about whom, and when.

``analyze(text)`` returns CrisisSignals. Each signal has a kind on a ladder in the spirit of
the C-SSRS (wish to be dead → active thoughts → method → intent/plan → preparatory acts),
plus self-harm, harm to others and abuse/immediate danger, and whether it is current or
history. Sentences are judged one at a time:

- negated mentions ("I'd never hurt myself", "I don't want to die") are dropped;
- other people's risk ("my friend once took pills") is dropped: the patterns are
  first-person, and a third-party subject nearer the match wins;
- hypotheticals about fiction or a generic "someone" are dropped;
- the past ("last year I thought about ending it") becomes history unless a present
  marker ("again", "lately", "now", "tonight") says it is happening now.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

Kind = Literal[
    "passive_ideation", "active_ideation", "method", "intent_plan", "preparatory",
    "self_harm", "harm_to_others", "abuse_danger",
]

LEVELS: dict[str, int] = {
    "passive_ideation": 1, "active_ideation": 2, "self_harm": 2, "method": 3, "intent_plan": 4,
    "preparatory": 5, "harm_to_others": 4, "abuse_danger": 4,
}

_ME = r"(i|i'm|i am|i've|i'd|i'll|me|my|myself)"

PATTERNS: dict[str, tuple[str, ...]] = {
    "passive_ideation": (
        r"\bwish (i|i'd) (was|were|could be) dead\b",
        r"\bwish i (had )?never (been born|woken up|existed)\b",
        r"\bwish i could (just )?(disappear|vanish|stop existing|not exist|sleep forever|fade away)\b",
        r"\b(go|going|fall|falling) (to sleep|asleep) and (never|not) wake up\b",
        r"\b(easier|better) (for everyone )?if i (wasn't|weren't|was not|were not) (alive|here|around)\b",
        r"\bif i (was|were) (gone|dead|not here|not around)\b",
        r"\b(don't|do not|can't|cannot) see myself (being )?(around|alive|here|making it) (by|past|until|much longer|for long)\b",
        r"\b(if i (just )?disappeared|disappear(ed)? (forever|for good|permanently))\b",
        r"\b(don't|do not) want to wake up\b",
        r"\bif i (just )?(didn't|did not|never) wake up\b",
        r"\bwouldn't (mind|care) if i (just )?(died|didn't wake up|was gone|were gone|got hit by)\b",
        r"\b(everyone|everybody|they|people|my (family|kids|partner|friends)|the world) (would|'d|will) be better off without me\b",
        r"\bbetter off (without me|if i (was|were)n't (here|around)|if i (was|were) (gone|dead))\b",
        r"\b(don't|do not) want to (be here|be alive|exist|live|go on|keep going|be around)( anymore| any more)?\b",
        r"\bno (reason|point) (for me )?(to|in) (live|living|go on|going on|being alive|keep going|wake up)\b",
        r"\btired of (living|being alive|existing)\b",
        r"\bnobody would (miss|notice) (me|if i)\b",
        r"\bwant to disappear (forever|for good|permanently)\b",
        r"\bwon't be (here|around) (much longer|for long)\b",
    ),
    "active_ideation": (
        r"\b(kill|killing|off|offing) myself\b",
        r"\bend(ing)? (my life|my own life|it all)\b",
        r"\b(thought|thinking|think|thoughts|want|wanted|going|plan|planning|ready|decided) (about |of |to )?(just )?end(ing)? it\b",
        r"\btake my (own )?life\b",
        r"\bsuicid(e|al)\b",
        r"\b(want|wanted|wanting) to (die|be dead)\b",
        r"\b(scared|afraid|frightened) (of )?what i (might|could|would|will) do to myself\b",
    ),
    "method": (
        r"\bhow (many|much) (of )?(my |the |those )?(sleeping )?(pills|tablets|paracetamol|painkillers|meds)\b",
        r"\b(looked up|looking up|researched|researching|googled|googling|searched|searching)( for)? (how|ways|methods|the dose|which|what dose)\b",
        r"\b(drive|driving|crash|crashing|steer|steering) (my car |the car )?(into|off) (a|the) (wall|tree|bridge|lorry|truck|road|cliff)\b",
        r"\boverdos(e|ing)\b",
        r"\bhang(ing)? myself\b",
        r"\b(slit|slitting|cut|cutting) my wrists\b",
        r"\bjump(ing)? (off|from) (a|the|my) (bridge|roof|building|balcony|cliff)\b",
        r"\b(step|stepping|jump|jumping) in front of (a|the) (train|bus|car|truck)\b",
    ),
    "intent_plan": (
        r"\b(i'm|i am) going to (do it|kill myself|end it|take (them|the pills|all of them|it)|go through with it)\b",
        r"\bi (will|'ll) (do it|kill myself|end it|take (them|the pills))\b",
        r"\bi('ve| have) (decided|made up my mind)\b",
        r"\bi (have|'ve got|made|worked out) a plan\b",
        r"\bplan(ned)? (to|how|when) (do it|kill|end|die)\b",
        r"\b(tonight|tomorrow|this weekend) is (the night|when|it)\b",
    ),
    "preparatory": (
        r"\b(gave|giving|given|give) (away )?(all )?my [a-z]+( [a-z]+)? away\b",
        r"\b(gave|giving|given|give) (away )?(all )?my (things|stuff|belongings|possessions|savings)\b",
        r"\bgiving (all )?(my )?(things|stuff|belongings) away\b",
        r"\b(wrote|writing|written) (a |some )?(goodbye|farewell|suicide) (letters?|notes?)\b",
        r"\b(wrote|writing|written|left) (a |some |a few )?(letters?|notes?) (to|for) (my )?(family|kids|mum|mom|dad|parents|everyone|friends|partner|wife|husband)\b",
        r"\b(all )?my (pills|tablets|antidepressants|meds|medication) (are )?(on the table|in front of me|lined up|ready)\b",
        r"\bcounted out (the |my |all )?(pills|tablets)\b",
        r"\b(pills|tablets) (are )?counted out\b",
        r"\b(saving|stockpiling|hoarding|collecting) (up )?(my )?(sleeping )?(pills|tablets|meds|medication)\b",
        r"\bbought (a )?(rope|gun|razor blades?|lots of pills)\b",
        r"\bsaid (my )?goodbyes\b",
        r"\bput my affairs in order\b",
    ),
    "self_harm": (
        r"\b(cut|cutting|burn|burning|hurt|hurting|harm|harming|scratch|scratching|punish|punishing|hitting) myself\b",
        r"\bself[- ]?harm(ing)?\b",
        r"\bcut (my )?(arms?|legs?|thighs?|skin)\b",
    ),
    "harm_to_others": (
        r"\b(want|going|gonna|could|will|'ll|plan|planning|thinking about|feel like|ready) (to )?(kill|hurt|stab|shoot|strangle|attack) "
        r"(him|her|them|someone|somebody|people|everyone|my [a-z]+)\b",
        r"\bi('ll| will) (kill|hurt) (him|her|them)\b",
        r"\b(thinking about|thought about|fantasi[sz]ing about|fantasi[sz]e about) (hurting|killing|stabbing|attacking) (him|her|them|someone|my [a-z]+)\b",
    ),
    "abuse_danger": (
        r"\b(he|she|they|my (partner|husband|wife|boyfriend|girlfriend|dad|father|mum|mom|mother|stepdad|stepfather|ex|brother|uncle)) "
        r"(hits|hit|beats|beat|chokes|choked|kicked|kicks|slapped|slaps|punched|punches|threatens|threatened|touches|touched|raped|forced|locks|locked) me\b",
        r"\b(i'm|i am) (not safe|in danger|scared for my life|afraid for my life)\b",
        r"\b(not|don't feel) safe (at home|here|with (him|her|them))\b",
        r"\bafraid (he|she|they)('ll| will| is going to| are going to| might) (kill|hurt|hit) me\b",
        r"\bthreatened (to kill me|me with (a|his|her|their) (knife|gun|weapon))\b",
        r"\b(abuses|abused|abusing) me\b",
        r"\b(i'm being|i was|i've been|i got) (abused|assaulted|raped)\b",
    ),
}

_COMPILED = {kind: [re.compile(p) for p in patterns] for kind, patterns in PATTERNS.items()}
# One alternation per kind: most sentences match none of a kind's patterns, and one search
# says so (the per-pattern loop, which applies the negation checks, runs only on a hit).
_ANY_OF_KIND = {kind: re.compile("|".join(f"(?:{p})" for p in patterns)) for kind, patterns in PATTERNS.items()}
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+|\s+-{1,2}\s+|\s+—\s+|,?\s+but\s+")
_NEGATION = re.compile(
    r"\b(never|not|no|don't|do not|didn't|did not|wouldn't|would not|won't|will not|no longer|nor|isn't|wasn't|"
    r"aren't|haven't|have no|doesn't|nothing like|without)\b(\s+\w+){0,4}\s*$"
)
_NOT_NEGATION = re.compile(r"\b(can't stop|couldn't stop|don't know|not sure|no matter|never stop)\b")
_THIRD_PARTY = re.compile(
    r"\b(he|she|they|his|her|their|someone|somebody|a person|people|my (friend|best friend|mum|mom|dad|mother|father|brother|"
    r"sister|cousin|partner|husband|wife|boyfriend|girlfriend|son|daughter|colleague|classmate|roommate|neighbour|neighbor))\b"
)
_FIRST_PERSON = re.compile(rf"\b{_ME}\b")
_HYPOTHETICAL = re.compile(
    r"\b(hypothetically|what if (someone|a person|somebody)|in (a|the) (movie|film|book|show|story|novel|game|series)|"
    r"for (a|my) (story|novel|essay|class|paper|assignment)|the character|"
    r"(book|film|movie|show|series|story|novel|podcast|documentary|article) (i'm|i am|i was) (reading|watching|listening to)|"
    r"(book|film|movie|show|series|novel|podcast|documentary|article) is about)\b"
)
_PAST = re.compile(
    r"\b(last (year|month|summer|winter|spring|autumn|fall|time)|years ago|months ago|when i was|in the past|back then|"
    r"used to|as a (kid|teen|teenager|child)|in (high )?school|at uni|in college|that's behind me|a long time ago|"
    r"for a while,? after|once,? years)\b"
)
_HYPERBOLE = re.compile(r"\b(could|gonna|going to) (kill|murder) (him|her|them|you) for\b|\b(lol|lmao|haha|jk|just kidding|joking)\b")
_PRESENT = re.compile(r"\b(now|again|lately|these days|tonight|today|right now|currently|still|recently|this week|anymore)\b")


@dataclass(frozen=True)
class CrisisSignal:
    kind: str
    level: int
    current: bool
    phrase: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "level": self.level, "current": self.current, "phrase": self.phrase}

    @classmethod
    def from_dict(cls, data: dict) -> "CrisisSignal":
        return cls(data["kind"], data["level"], data["current"], data["phrase"])


def _normalise(text: str) -> str:
    return text.lower().replace("’", "'").replace("‘", "'").replace("`", "'")


def _negated(before: str) -> bool:
    return bool(_NEGATION.search(before)) and not _NOT_NEGATION.search(before[-30:])


def _about_someone_else(before: str, kind: str) -> bool:
    if kind == "abuse_danger":
        return False  # "he hits me": the third party is the aggressor, the patient is at risk
    third = [m.end() for m in _THIRD_PARTY.finditer(before)]
    first = [m.end() for m in _FIRST_PERSON.finditer(before)]
    return bool(third) and (not first or third[-1] > first[-1])


# Words without which a sentence is not sent to the semantic matcher (keeps encoding cheap).
RISK_VOCABULARY = re.compile(
    r"\b(die|dying|dead|death|alive|live|living|life|kill\w*|suicid\w*|end|ending|hurt\w*|harm\w*|cut\w*|bleed\w*|"
    r"pills?|tablets?|overdos\w*|jump\w*|wake|gone|goodbye|rope|gun|knife|worth|exist\w*|disappear\w*|without me|"
    r"better off|date|plan\w*|wrists?|hit\w*|scratch\w*|burn\w*|safe|danger|threat\w*|weapon|bridge|balcony|"
    r"edge|vanish|funeral|swallow\w*|punch\w*|attack\w*|revenge|beats?|throat|eyes|sleep|asleep|breath\w*|"
    r"anymore|burden|forever|blade|slic\w*|farewell|engine|garage|stockpil\w*|prescription|regret|scared|afraid)\b"
)
_DENIAL = re.compile(
    r"\b(never|not|no|don't|do not|won't|wouldn't|haven't|have no|isn't|without)\b(\s+\w+){0,3}?\s+"
    r"(hurt\w*|harm\w*|kill\w*|die|dying|end\w*|do anything|want\w*|plan\w*|thinking|suicidal|going to|intend\w*)\b"
)

SemanticMatcher = Callable[[Sequence[str]], Sequence["str | None"]]


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(_normalise(text)) if s and s.strip()]


def semantic_candidates(text: str) -> list[str]:
    """Sentences worth a semantic look: they use risk vocabulary and are not fiction."""
    return [s for s in sentences(text) if RISK_VOCABULARY.search(s) and not _HYPOTHETICAL.search(s)]


def analyze(text: str, semantic: SemanticMatcher | None = None) -> list[CrisisSignal]:
    """Crisis signals in ``text``: the patterns first, then ``semantic`` for paraphrases.

    ``semantic`` maps candidate sentences to a kind (or None); its matches pass the same
    third-party, denial and past checks as the patterns.
    """
    signals = _pattern_signals(text)
    if semantic is None:
        return signals
    seen = {s.kind for s in signals}
    candidates = semantic_candidates(text)
    for sentence, kind in zip(candidates, semantic(candidates) if candidates else []):
        if kind is None or kind in seen:
            continue
        anchor = RISK_VOCABULARY.search(sentence)
        before = sentence[: anchor.start()] if anchor else sentence
        if _about_someone_else(before, kind) or _DENIAL.search(sentence):
            continue
        past = bool(_PAST.search(sentence)) and not _PRESENT.search(sentence)
        phrase = " ".join(sentence.split()[:12])
        signals.append(CrisisSignal(kind, LEVELS[kind], not past, phrase))
        seen.add(kind)
    return signals


def _pattern_signals(text: str) -> list[CrisisSignal]:
    signals: list[CrisisSignal] = []
    seen: set[str] = set()
    for sentence in _SENTENCE.split(_normalise(text)):
        if not sentence or _HYPOTHETICAL.search(sentence):
            continue
        past = bool(_PAST.search(sentence)) and not _PRESENT.search(sentence)
        for kind, patterns in _COMPILED.items():
            if kind in seen or not _ANY_OF_KIND[kind].search(sentence):
                continue
            if kind == "harm_to_others" and _HYPERBOLE.search(sentence):
                continue
            for pattern in patterns:
                match = next(
                    (m for m in pattern.finditer(sentence)
                     if not _negated(sentence[: m.start()]) and not _about_someone_else(sentence[: m.start()], kind)),
                    None,
                )
                if match:
                    signals.append(CrisisSignal(kind, LEVELS[kind], not past, match.group(0)))
                    seen.add(kind)
                    break
    return signals
