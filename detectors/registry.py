"""Finds the detectors: every module in this package that defines ``DETECTOR``."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from detectors.findings import Finding
from detectors.state import ConversationState, TurnRecord


@runtime_checkable
class Detector(Protocol):
    """A detector looks at a new turn in its conversation and returns findings.

    ``state`` already holds ``turn`` as its newest entry; ``turn.features`` holds the
    features computed once for it. Implementations must not do I/O or read the clock.
    """

    name: str
    version: str
    rules: tuple[str, ...]  # every rule it may raise, each "<name>.<rule>"

    def detect(self, state: ConversationState, turn: TurnRecord) -> list[Finding]: ...


class UnknownDetector(ValueError):
    pass


def discover(package: str = "detectors") -> dict[str, Detector]:
    """Import every module of ``package`` and collect its ``DETECTOR``, keyed by name."""
    root = importlib.import_module(package)
    found: dict[str, Detector] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        detector = getattr(module, "DETECTOR", None)
        if detector is None:
            continue
        if not isinstance(detector, Detector):
            raise TypeError(f"{module.__name__}.DETECTOR does not implement Detector")
        if detector.name in found:
            raise ValueError(f"two detectors are named {detector.name!r}")
        undeclared = [rule for rule in detector.rules if not rule.startswith(f"{detector.name}.")]
        if undeclared:
            raise ValueError(f"{module.__name__}: rules {undeclared} do not start with {detector.name!r}.")
        found[detector.name] = detector
    return found


def rule_names(detectors: Iterable[Detector]) -> dict[str, str]:
    """Every rule the detectors can raise, mapped to its detector's name."""
    return {rule: detector.name for detector in detectors for rule in detector.rules}


def select(
    available: dict[str, Detector],
    enabled: Iterable[str] | None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[Detector]:
    """The detectors to run, in a stable order (``None`` = all), configured with ``options``.

    A detector that takes options has ``with_options(**options)`` returning a configured copy
    and raising ValueError on a bad one.
    """
    names = sorted(available) if enabled is None else list(enabled)
    for name in [*names, *(options or {})]:
        if name not in available:
            raise UnknownDetector(
                f"unknown detector {name!r}{_did_you_mean(name, list(available))}; known: {', '.join(sorted(available))}"
            )
    chosen = []
    for name in names:
        detector = available[name]
        if (options or {}).get(name):
            if not hasattr(detector, "with_options"):
                raise ValueError(f"detector {name!r} takes no options")
            try:
                detector = detector.with_options(**options[name])
            except ValueError as exc:
                raise ValueError(_with_suggestions(str(exc), name, detector, options[name])) from None
        chosen.append(detector)
    return chosen


def option_names(detector: Detector) -> list[str]:
    """The options ``with_options`` takes: the detector's public attributes it accepts back unchanged."""
    if dataclasses.is_dataclass(detector):
        candidates = [field.name for field in dataclasses.fields(detector)]
    else:
        candidates = list(getattr(detector, "__dict__", {}))
    names = []
    for candidate in candidates:
        if candidate.startswith("_") or candidate in ("name", "version", "rules"):
            continue
        try:
            detector.with_options(**{candidate: getattr(detector, candidate)})  # type: ignore[attr-defined]
        except (TypeError, ValueError):
            continue
        names.append(candidate)
    return sorted(names)


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _with_suggestions(message: str, name: str, detector: Detector, given: dict[str, Any]) -> str:
    """The detector's own message, plus the closest real option for each misspelt one and, when the
    message does not list them, every option the detector takes."""
    known = option_names(detector)
    unknown = [key for key in given if key not in known] if known else []
    if not unknown:
        return message
    guesses = [(key, close[0]) for key in unknown if (close := difflib.get_close_matches(key, known, n=1, cutoff=0.6))]
    if len(guesses) == 1 and len(unknown) == 1:
        message += f"; did you mean {guesses[0][1]!r}?"
    elif guesses:
        message += "; did you mean " + ", ".join(f"{close!r} for {key!r}" for key, close in guesses) + "?"
    if not all(option in message for option in known):
        message += f" ({name} takes {', '.join(known)})"
    return message
