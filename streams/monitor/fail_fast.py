"""A batch that fails outside the per-turn guards ends the worker instead of being acknowledged.

Faust's ``take_events`` acknowledges a batch's events when its generator closes, also when an
exception from the agent's body closes it, and the agent is then restarted in the same process:
the batch's offsets would be committed although its alerts or state were never acknowledged (a
send that failed, a broker error while writing state). Ending the process at once, before the
generator closes, is what SIGKILL does, and the crash test shows that loses nothing: a restart
replays the batch from the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

EXIT_BATCH_FAILED = 70  # EX_SOFTWARE: a restart replays the batch from the committed offset


async def or_end_process(batch: Awaitable[None], end: Callable[[int], None] = os._exit) -> None:
    """Await one batch's processing; if it raises, log why and end the process (``end`` does not return).
    A cancellation of the agent itself (the worker stopping) goes through; one from inside the batch (a
    send future cancelled under it) is a failure like any other."""
    try:
        await batch
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        fail(end)
    except Exception:
        fail(end)


def fail(end: Callable[[int], None]) -> None:
    log.critical(
        "a batch failed outside the per-turn guards (its alerts or state may not be acknowledged); "
        "ending the worker so that a restart replays the batch from the committed offset",
        exc_info=True,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    end(EXIT_BATCH_FAILED)
