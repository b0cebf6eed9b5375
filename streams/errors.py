"""Errors the stream layer raises, typed so callers can tell them apart."""


class TurnwatchError(Exception):
    """Base class for turnwatch errors."""


class ConfigError(TurnwatchError):
    """Settings failed validation; the message names the offending key."""


class InvalidTurn(TurnwatchError):
    """A turn event failed validation.

    ``reason`` is a short, bounded code (used as a metric label and in the DLQ record);
    ``detail`` names the offending field and never contains turn text.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TranscriptFormatError(TurnwatchError):
    """A transcript file could not be parsed; the message names the file and line."""


class BrokerError(TurnwatchError):
    """The embedded broker could not be started or reached."""
