"""Crisis language: the patterns, stance cues and sentence splitting that the risk head reads.

The patterns (first-person wording of each step on a ladder in the spirit of the C-SSRS: wish
to be dead → active thoughts → method → intent/plan → preparatory acts, plus self-harm, harm to
others and abuse or danger) no longer decide anything on their own: they propose candidate
sentences and are inputs to the calibrated head in ``sentence_head``, beside the encoder's
embedding and the stance cues below (third party, past, present, hypothetical, hyperbole).
"""

from __future__ import annotations

import re

# What an overdose is taken from (the preparatory patterns of an attempt under way).
_TAKEN = r"pills|tablets|meds|medication|medicine|antidepressants|painkillers|paracetamol|tylenol|insulin|lithium"

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
        # An attempt under way: what was just taken, where they are standing, what is running.
        r"\b(swallowed|took|taken|downed|had|drank|injected) (like |about |around |over |nearly |almost |already )?"
        r"(\d{2,}|all|every|everything|the whole|a whole|the entire|an entire|half (of )?(the|a|my)|a (fistful|handful|load)) "
        rf"(of |in )?(my |the |a |those |these )?([a-z']+ ){{0,3}}?({_TAKEN}|(bottle|packet|pack|box|blister packs?) of "
        rf"([a-z']+ ){{0,2}}?({_TAKEN}))\b",
        r"\b(took|swallowed|taken) (all|everything) (in|from) (the|my) (medicine|bathroom) (cabinet|drawer)\b",
        r"\b(drank|swallowed|drinking) (the |some |a bottle of |a cup of )?(bleach|drain cleaner|antifreeze)\b",
        r"\b(in|inside) (the|my) (car|garage)\b[^.!?]*\b(engine|car|motor)('s| is)? (running|on)\b",
        r"\bhose\b[^.!?]*\bexhaust\b",
        r"\b(on|over|outside|standing on) (the )?(ledge|railing|edge of the (roof|bridge|cliff|platform))\b",
        r"\b(noose|rope) is (up|ready|tied)\b",
        r"\b(taking|swallowing) (them|the pills|the tablets|all of them) (now|right now)\b",
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

KINDS: tuple[str, ...] = tuple(PATTERNS)  # the current kinds of risk, ladder order
# One alternation per kind.
ANY_OF_KIND = {kind: re.compile("|".join(f"(?:{p})" for p in patterns)) for kind, patterns in PATTERNS.items()}
# Sentence spans for the risk model keep "but" clauses together ("I want to die but I won't").
SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|(?<=[.!?][\"”’])\s+|\n+|\s+-{1,2}\s+|\s+—\s+")
THIRD_PARTY = re.compile(
    r"\b(he|she|they|his|her|their|someone|somebody|a person|people|my (friend|best friend|mum|mom|dad|mother|father|brother|"
    r"sister|cousin|partner|husband|wife|boyfriend|girlfriend|son|daughter|colleague|classmate|roommate|neighbour|neighbor))\b"
)
HYPOTHETICAL = re.compile(
    r"\b(hypothetically|what if (someone|a person|somebody)|in (a|the) (movie|film|book|show|story|novel|game|series)|"
    r"for (a|my) (story|novel|essay|class|paper|assignment)|the character|"
    r"(book|film|movie|show|series|story|novel|podcast|documentary|article) (i'm|i am|i was) (reading|watching|listening to)|"
    r"(book|film|movie|show|series|novel|podcast|documentary|article) is about)\b"
)
PAST = re.compile(
    r"\b(last (year|month|summer|winter|spring|autumn|fall|time)|years ago|months ago|when i was|in the past|back then|"
    r"used to|as a (kid|teen|teenager|child)|in (high )?school|at uni|in college|that's behind me|a long time ago|"
    r"for a while,? after|once,? years)\b"
)
HYPERBOLE = re.compile(
    r"\b(could|gonna|going to) (kill|murder) (him|her|them|you) for\b|\b(lol|lmao|haha|jk|just kidding|joking)\b"
)
PRESENT = re.compile(
    r"\b(now|again|lately|these days|tonight|today|right now|currently|still|recently|this week|anymore)\b"
)


# Figures of speech that use risk words; they neither make a sentence a candidate nor count as evidence.
# Case-blind, so they can be set aside in a sentence as written (``literal_as_written``).
FIGURES_OF_SPEECH = re.compile(
    r"\b(beat(ing)? (myself|yourself|themselves|herself|himself) up|(is|was|are|it's) killing me|killing it|killed it|"
    r"kill(ing)? time|dying (to|for)|to die for|dead (tired|on my feet|end)|deadlines?|bored to death|scared to death|"
    r"sick to death|over my dead body|die of embarrassment|life saver|lifesaver|life hack|work-life|real life|"
    r"my whole life|in my life|for the life of me|drowning in|drown(ing)? (out|in)|trigger\w*|hung up|hang(ing)? out|"
    r"hang in there|hang on)\b",
    re.IGNORECASE,
)


def as_written(text: str) -> str:
    """The text with its apostrophes made plain, case kept."""
    return text.replace("’", "'").replace("‘", "'").replace("`", "'")


def normalise(text: str) -> str:
    return as_written(text).lower()


# Risk said in algospeak and chat shorthand, in the words the encoder and the lexicon know. People
# write around moderation filters ("unalive", "sewerslide") and in forum and text shorthand
# ("ctb" for catching the bus, "sh" for self-harm, "od" for an overdose); the encoder reads those
# as unknown word pieces. Each form is one a reader would take for risk language in a patient's own
# sentence; the head still judges stance (a friend's, past, hypothetical) as for the plain words.
_SELF_HARM_VERB = (
    r"relapsed? (?:on|into)|urges? (?:to|for)|clean (?:from|of)|stop(?:ped)?|did|doing|started|"
    r"(?:used|want|wanted|need|needed|going|gonna) to|wanna"
)
PLAIN_WORDING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), plain)
    for pattern, plain in (
        (r"\bbe(ing)? unalive\b", r"be\1 dead"),
        (r"\bunalive\b", "kill"),
        (r"\bunalived\b", "killed"),
        (r"\bunalives\b", "kills"),
        (r"\bunaliving\b", "killing"),
        (r"\bsewer ?slid(e|es|ing)\b", r"suicid\1"),
        (r"\bsu[1!]cid(e|al)\b", r"suicid\1"),
        (r"\bctb\b", "suicide"),
        (rf"\b({_SELF_HARM_VERB}) sh(?![\w*!@#$%])", r"\1 self-harm"),  # not "sh*t"
        (r"\bsh (scars?|urges?|wounds?|cuts?)\b", r"self-harm \1"),
        (r"\bsh'(?:d|ed)\b", "self-harmed"),
        (r"\b(to|gonna|wanna|will|might|could) od\b", r"\1 overdose"),
        (r"\bod'(?:d|ed)\b", "overdosed"),
        (r"\bod'ing\b", "overdosing"),
    )
)
_PLAIN_FORMS = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in PLAIN_WORDING), re.IGNORECASE)


def in_plain_words(sentence: str) -> str:
    """The sentence with its algospeak and risk shorthand in plain words (``PLAIN_WORDING``); the
    same string when it has none. The risk head reads this; quotes stay as written."""
    if not _PLAIN_FORMS.search(sentence):
        return sentence
    for pattern, plain in PLAIN_WORDING:
        sentence = pattern.sub(plain, sentence)
    return sentence


def literal_as_written(sentence: str) -> str:
    """The sentence without its figures of speech, case kept: what the lexicon reads, since its
    acronyms count only in capitals ("want to OD", "my NSSI", "ended up in the ER"; not "od", "er")."""
    return FIGURES_OF_SPEECH.sub(" ", as_written(sentence))


# Words without which a sentence is not a candidate for the risk head (keeps encoding cheap).
RISK_VOCABULARY = re.compile(
    r"\b(die|dying|dead|death|alive|live|living|life|kill\w*|suicid\w*|end|ending|hurt\w*|harm\w*|cut\w*|bleed\w*|"
    r"pills?|tablets?|overdos\w*|jump\w*|wake|gone|goodbye|rope|gun|knife|worth|exist\w*|disappear\w*|without me|"
    r"better off|date|plan\w*|wrists?|hit\w*|scratch\w*|burn\w*|safe|danger|threat\w*|weapon|bridge|balcony|"
    r"edge|vanish|funeral|swallow\w*|punch\w*|attack\w*|revenge|beats?|throat|eyes|sleep|asleep|breath\w*|"
    r"anymore|burden|forever|blade|slic\w*|farewell|engine|garage|stockpil\w*|prescription|regret|scared|afraid|"
    r"wak\w*|notice|miss me|painkillers?|meds|medication|saved up|saving up|stash\w*|noose|belt|ledge|roof|"
    r"tracks|traffic|drown\w*|hang\w*|give up|giving up|keep going|no point|pointless|hopeless|worthless|"
    r"grave|escape|tired of|antidepressants?|insulin|paracetamol|tylenol|aspirin|lithium|bleach|drain cleaner|"
    r"antifreeze|cabinet|exhaust|railing|cliff|tonight's the night|tonight is the night)\b"
)
_CLAUSE = re.compile(r",\s+|;\s+")
MAX_SENTENCE_CHARS = 300


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``; run-on sentences are cut at clause breaks."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in [*SENTENCE_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        spans.extend(_clauses(text, start, end))
        if match:
            start = match.end()
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` trimmed, cut into pieces of at most ``MAX_SENTENCE_CHARS`` (iteratively:
    a long run of text without breaks must not recurse once per piece)."""
    out: list[tuple[int, int]] = []
    pending = [(start, end)]
    while pending:
        start, end = pending.pop()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end - start <= MAX_SENTENCE_CHARS:
            if end > start:
                out.append((start, end))
            continue
        cuts = [m for m in _CLAUSE.finditer(text, start, end) if m.start() - start >= 60]
        if cuts:
            first = min(cuts, key=lambda m: abs(m.start() - start - MAX_SENTENCE_CHARS // 2))
            pending += [(first.end(), end), (start, first.start())]
        else:
            hard = text.rfind(" ", start, start + MAX_SENTENCE_CHARS)
            cut = hard if hard > start else start + MAX_SENTENCE_CHARS
            pending += [(cut, end), (start, cut)]
    return out


def sentences(text: str) -> list[str]:
    return [normalise(text[a:b]) for a, b in sentence_spans(text)]
