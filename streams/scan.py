"""``turnwatch scan``: the monitor's state update and detectors, in-process, no broker."""

from __future__ import annotations

from itertools import islice
from typing import Any, Iterable, Iterator, MutableMapping

from streams.ingest.files import Record
from streams.pipeline import Pipeline, StepResult


def scan_records(
    records: Iterable[Record],
    pipeline: Pipeline,
    batch_size: int = 64,
    states: MutableMapping[str, Any] | None = None,
) -> Iterator[StepResult]:
    """Run records through the same prepare/step calls the monitor agent makes."""
    states = {} if states is None else states
    iterator = iter(records)
    while chunk := list(islice(iterator, batch_size)):
        for item in pipeline.prepare([record.value for record in chunk], states):
            yield pipeline.step(states, item)
