import pytest

from detectors.registry import Detector, UnknownDetector, discover, select


def test_discovers_the_detector_modules():
    found = discover()
    assert "therapist" in found
    assert all(isinstance(d, Detector) and d.version for d in found.values())


def test_select_names_unknown_detectors():
    with pytest.raises(UnknownDetector, match="nosuch"):
        select(discover(), ["nosuch"])
    assert [d.name for d in select(discover(), ["therapist"])] == ["therapist"]
