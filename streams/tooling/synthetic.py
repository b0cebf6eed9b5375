"""Synthetic conversations with realistic sizes, for benchmarks (20–60 turns, 20–150 words a turn)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

_PATIENT = (
    "I have been sleeping badly since the project started",
    "my manager keeps moving the deadlines",
    "I feel like I am always one step behind",
    "on good days I manage to go for a run in the morning",
    "my sister called and we talked for an hour which helped",
    "I keep replaying the meeting in my head",
    "I tried the breathing exercise but my mind wandered",
    "the weekend was quieter than I expected",
    "I worry that people at work think I am not good enough",
    "I cooked a proper dinner for the first time in weeks",
    "sometimes I just sit in the car before going inside",
    "I wrote down three things that went well yesterday",
    "my chest gets tight when I open my inbox",
    "I am not sure what I actually want from this job",
    "I noticed I was kinder to myself on Tuesday",
    "it is hard to explain but everything feels heavy lately",
)
_THERAPIST = (
    "That sounds like a lot to carry",
    "It makes sense that you would feel tense after a week like that",
    "What do you notice in your body when that happens",
    "Could we look at one small step for tomorrow",
    "You mentioned your sister earlier and it sounded like that call mattered",
    "What would you say to a friend in the same situation",
    "Let's slow down and stay with that feeling for a moment",
    "It sounds like part of you is very tired",
    "How did the run feel compared with the days you skipped it",
    "I wonder what a kinder version of that thought might sound like",
    "Thank you for telling me about the car",
    "Which of those three things are you most proud of",
)


def _turn_text(rng: random.Random, pool: tuple[str, ...], words: int) -> str:
    sentences: list[str] = []
    count = 0
    while count < words:
        sentence = rng.choice(pool)
        sentences.append(sentence[0].upper() + sentence[1:] + rng.choice([".", ".", "?", "."]))
        count += len(sentence.split())
    return " ".join(sentences)


def conversations(count: int, seed: int = 1, start: datetime | None = None) -> Iterator[list[dict]]:
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(count):
        conversation_id = f"synthetic-{seed}-{n:06d}"
        ts = start
        turns = []
        for index in range(rng.randint(20, 60)):
            role = "patient" if index % 2 == 0 else "therapist"
            text = _turn_text(rng, _PATIENT if role == "patient" else _THERAPIST, rng.randint(20, 150))
            turns.append(
                {
                    "event_id": f"{conversation_id}:{index:05d}",
                    "conversation_id": conversation_id,
                    "turn_index": index,
                    "role": role,
                    "text": text,
                    "ts": ts.isoformat(),
                    "meta": {},
                }
            )
            ts += timedelta(seconds=5 + len(text.split()) * 0.3)
        yield turns


def jsonl_lines(count: int, seed: int = 1) -> Iterator[str]:
    for turns in conversations(count, seed):
        for turn in turns:
            yield json.dumps(turn)
