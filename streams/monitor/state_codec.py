"""How conversation heads and turn records are stored: JSON, deflated with a preset dictionary.

The values are small (a turn record ~1.5 KB of JSON, a head ~1.7 KB) and most of their bytes
are key names, label names and floats. Plain zlib on a value that small barely finds any
repeats; a preset dictionary (``zdict``) of the names the values use lets it refer to them
from the first byte. Measured on the bench's conversations: a head 1.7 KB → 0.4 KB, a turn
record 1.45 KB → 0.83 KB (zlib level 1, ~25 µs a value).

The first byte says how a value was written, so every format ever written stays readable:
``{`` plain JSON (before this codec), ``\\x01`` deflate with ``DICTIONARY_V1``. A dictionary is
never edited once released (a test pins its digest); a new one gets a new version byte.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from faust.serializers import codecs

CODEC_NAME = "turnwatch-state"
V1 = b"\x01"

_ROLES = ["patient", "therapist", "system"]
_EMOTIONS = [
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
]  # fmt: skip
_CRISIS = [
    "risk:passive_ideation", "risk:active_ideation", "risk:method", "risk:intent_plan", "risk:preparatory",
    "risk:self_harm", "risk:harm_to_others", "risk:abuse_danger", "history", "sentence",
    "construct:passive_suicidal_ideation", "construct:active_suicidal_ideation_suicidal_planning",
    "construct:lethal_means_for_suicide", "construct:direct_self_injury", "construct:other_suicidal_language",
    "construct:burdensomeness", "construct:hopelessness", "construct:entrapment_desire_to_escape",
    "construct:loneliness", "construct:shame_self_disgust_worthlessness",
]  # fmt: skip
_EPISODES = [
    "distress.escalating", "distress.sustained_high", "loop.patient_refrain", "loop.therapist_template",
    "loop.cycle", "therapist.advice_without_empathy", "therapist.ignores_distress", "therapist.harsh_or_shaming",
    "therapist.low_quality_session", "crisis.possible", "crisis.cumulative_risk",
]  # fmt: skip
_SKELETON = {
    "conversation_id": "",
    "window_size": 24,
    "last_index": 0,
    "missing": [],
    "window": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23],
    "turns_processed": 0,
    "episodes": {name: {"worst": 2, "open": {"0": [0, 2]}} for name in _EPISODES},
    "memory": {
        "crisis": {
            "c": [[name, 0.0, 0, 0, 0.0, "", ""] for name in _CRISIS],
            "d": [],
            "n": 0,
            "ts": 0.0,
            "paged": None,
            "reset": None,
        },
        "distress": {"episode_start": None, "calm_turns": 0},
        "loop": {"runs": {role: {"turns": [], "phrase": "", "exchanges": 0} for role in _ROLES[:2]}, "cycle": None},
        "therapist": {"t": [[0, 0, 0, 0, 0, 0, 0, 0]], "n": 0, "low": 0, "s": 0.0},
    },
}
_TURN = {
    "i": 0,
    "r": _ROLES,
    "t": "",
    "f": {
        "emb": "",
        "emo": dict.fromkeys(_EMOTIONS, 0.0),
        "cues": {},
        "crisis": {"d": "none", "s": [], "p": [], "e": []},
        "distress": 0.0,
        "mi": {"a": [], "b": [], "c": [], "n": [], "w": []},
        "emp": {"l": [0, 0, 0], "p": [0.0, 0.0, 0.0]},
        "echo": "",
    },
    "ts": 0.0,
}
DICTIONARY_V1 = json.dumps([_SKELETON, _TURN], separators=(",", ":")).encode()


def dumps(value: Any) -> bytes:
    compressor = zlib.compressobj(1, zdict=DICTIONARY_V1)
    plain = json.dumps(value, separators=(",", ":")).encode()
    return V1 + compressor.compress(plain) + compressor.flush()


def loads(stored: bytes) -> Any:
    if stored[:1] == V1:
        decompressor = zlib.decompressobj(zdict=DICTIONARY_V1)
        return json.loads(decompressor.decompress(stored[1:]) + decompressor.flush())
    return json.loads(stored)


class StateCodec(codecs.Codec):
    def _dumps(self, value: Any) -> bytes:
        return dumps(value)

    def _loads(self, stored: bytes) -> Any:
        return loads(stored)


codecs.register(CODEC_NAME, StateCodec())
