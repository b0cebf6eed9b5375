import pytest

from detectors.crisis.sentence_head import CrisisRiskModel
from detectors.emotion import EmotionHead
from detectors.encoder import Encoder
from detectors.extractor import TurnFeatureExtractor
from detectors.therapist.codes import CodesModel


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def onnx_encoder(onnx_cache) -> Encoder:
    return Encoder(backend="onnx", cache_dir=onnx_cache)


@pytest.fixture(scope="session")
def crisis_model() -> CrisisRiskModel:
    return CrisisRiskModel.load()


@pytest.fixture(scope="session")
def extractor(encoder, crisis_model) -> TurnFeatureExtractor:
    return TurnFeatureExtractor(encoder, EmotionHead.load(), crisis_model, CodesModel.load())
