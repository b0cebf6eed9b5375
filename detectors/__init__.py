"""Pure detection code for turnwatch.

Nothing in this package imports Faust, Kafka, HTTP or reads the clock: a detector is a
function of (conversation state, new turn, precomputed features) to findings. The stream
layer (``streams/``) owns I/O and turns findings into alerts.
"""

# Per-turn features declared outside ``detectors.features`` register when their module loads; load
# them with the package so any state read back from a changelog knows every feature.
from detectors.crisis import signals as _crisis_signals  # noqa: F401
