"""Pure detection code for turnwatch.

Nothing in this package imports Faust, Kafka, HTTP or reads the clock: a detector is a
function of (conversation state, new turn, precomputed features) to findings. The stream
layer (``streams/``) owns I/O and turns findings into alerts.
"""
