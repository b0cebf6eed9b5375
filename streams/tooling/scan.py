"""``turnwatch scan``: the monitor's state update and detectors, in-process, no broker."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from streams.ingest.files import Record
from streams.monitor.conversation_store import ConversationStore
from streams.monitor.pipeline import Pipeline, StepResult


def scan_records(
    records: Iterable[Record],
    pipeline: Pipeline,
    batch_size: int = 64,
    store: ConversationStore | None = None,
) -> Iterator[StepResult]:
    """Run records through the same prepare/step calls the monitor agent makes."""
    for _, result in scan_with_records(records, pipeline, batch_size, store):
        yield result


def scan_with_records(
    records: Iterable[Record],
    pipeline: Pipeline,
    batch_size: int = 64,
    store: ConversationStore | None = None,
) -> Iterator[tuple[Record, StepResult]]:
    """Each result beside the record it came from (``prepare`` keeps one item per input, in order)."""
    store = ConversationStore() if store is None else store
    iterator = iter(records)
    while chunk := list(islice(iterator, batch_size)):
        for record, item in zip(chunk, pipeline.prepare([record.value for record in chunk], store), strict=True):
            yield record, pipeline.step(store, item)
