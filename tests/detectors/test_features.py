"""Per-turn features are declared once, beside their code; TurnFeatures holds whatever is declared."""

from dataclasses import dataclass

import pytest

from detectors.features import FEATURE_KINDS, Distress, Embedding, TurnFeatures, register_feature


def test_a_new_feature_is_one_declaration_and_round_trips_through_the_changelog():
    @register_feature("test_sleep", "tsl")
    @dataclass(frozen=True)
    class Sleep:
        hours: float

        def to_dict(self):
            return {"h": self.hours}

        @classmethod
        def from_dict(cls, data):
            return cls(data["h"])

    try:
        features = TurnFeatures(test_sleep=Sleep(4.5), distress=Distress(0.7))
        stored = features.to_dict()
        assert stored == {"tsl": {"h": 4.5}, "distress": 0.7}
        again = TurnFeatures.from_dict(stored)
        assert again.test_sleep == Sleep(4.5) and again.distress_score == 0.7 and again == features
    finally:
        del FEATURE_KINDS["test_sleep"]


def test_keys_this_version_does_not_know_are_kept_as_they_were():
    stored = {"emb": Embedding.of(__import__("numpy").ones(4)).packed, "zz_future": [1, 2, 3]}
    features = TurnFeatures.from_dict(stored)
    assert features.to_dict() == stored
    assert features.crisis is None and features.embedding is not None


def test_an_undeclared_feature_is_refused_by_name():
    with pytest.raises(AttributeError, match="no feature 'sleepiness'"):
        TurnFeatures(sleepiness=1)
    with pytest.raises(AttributeError, match="no feature 'sleepiness'"):
        _ = TurnFeatures().sleepiness


def test_two_features_cannot_share_a_changelog_key():
    with pytest.raises(ValueError, match="share the changelog key 'emb'"):
        register_feature("test_other", "emb", encode=str, decode=str)(object)
    assert "test_other" not in FEATURE_KINDS
