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


def test_options_configure_a_detector_and_bad_ones_are_named():
    [loop] = select(discover(), ["loop"], {"loop": {"patient_run": 6}})
    assert loop.patient_run == 6
    with pytest.raises(ValueError, match="unknown loop option"):
        select(discover(), ["loop"], {"loop": {"nope": 1}})
    with pytest.raises(ValueError, match="takes no options"):
        select(discover(), None, {"crisis": {"x": 1}})
    with pytest.raises(UnknownDetector):
        select(discover(), None, {"nosuch": {}})
