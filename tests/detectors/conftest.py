import pytest

from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.features import TurnFeatureExtractor


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="session")
def extractor(encoder) -> TurnFeatureExtractor:
    return TurnFeatureExtractor(encoder, EmotionHead.load())
