"""Crisis: acute risk of the patient's own, paged to a human now.

(The whole story is written in ``detector.py`` for now.)
"""

from detectors.crisis.detector import DETECTOR, CrisisDetector

__all__ = ["DETECTOR", "CrisisDetector"]
