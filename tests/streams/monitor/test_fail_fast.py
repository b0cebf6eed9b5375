"""A batch that fails outside the per-turn guards ends the worker with its own exit code and a log
line, before Faust's take_events could acknowledge the batch; one that succeeds ends nothing."""

from __future__ import annotations

import asyncio
import logging

from streams.monitor.fail_fast import EXIT_BATCH_FAILED, or_end_process


class Ended(Exception):
    """Stands for the process ending: ``os._exit`` does not return, so neither does this ``end``."""


def end(code: int) -> None:
    raise Ended(code)


async def failing_send() -> None:
    await asyncio.sleep(0)
    raise ConnectionError("the alerts topic did not acknowledge the batch")


async def good_batch(done: list[str]) -> None:
    await asyncio.sleep(0)
    done.append("acknowledged")


def test_a_failed_batch_ends_the_process_with_its_code_and_says_why(caplog):
    caplog.set_level(logging.CRITICAL, logger="streams.monitor.fail_fast")
    try:
        asyncio.run(or_end_process(failing_send(), end=end))
    except Ended as ended:
        assert ended.args == (EXIT_BATCH_FAILED,)
    else:
        raise AssertionError("a failed batch must end the process")
    [record] = caplog.records
    assert "replays the batch" in record.getMessage() and record.exc_info[0] is ConnectionError


def test_a_batch_that_succeeds_ends_nothing():
    done: list[str] = []
    asyncio.run(or_end_process(good_batch(done), end=end))
    assert done == ["acknowledged"]


def test_cancellation_is_not_a_failure():
    async def cancelled() -> None:
        raise asyncio.CancelledError

    try:
        asyncio.run(or_end_process(cancelled(), end=end))
    except asyncio.CancelledError:
        pass  # a stopping worker's cancellation goes through to Faust
    else:
        raise AssertionError("the cancellation must propagate")
