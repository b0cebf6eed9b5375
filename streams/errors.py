"""Errors the stream layer raises, typed so callers can tell them apart."""


class TurnwatchError(Exception):
    """Base class for turnwatch errors."""


class ConfigError(TurnwatchError):
    """Settings failed validation; the message names the offending key.

    ``problems`` holds each problem on its own (``check-config`` lists and counts them); the
    message is them joined with "; ".
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


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
