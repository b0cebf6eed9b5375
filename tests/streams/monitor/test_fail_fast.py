"""A batch that fails outside the per-turn guards ends the worker with its own exit code and a log
line, before Faust's take_events could acknowledge the batch; one that succeeds ends nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest

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
    with pytest.raises(Ended) as ended:
        asyncio.run(or_end_process(failing_send(), end=end))
    assert ended.value.args == (EXIT_BATCH_FAILED,)
    [record] = caplog.records
    assert "replays the batch" in record.getMessage() and record.exc_info[0] is ConnectionError


def test_a_batch_that_succeeds_ends_nothing():
    done: list[str] = []
    asyncio.run(or_end_process(good_batch(done), end=end))
    assert done == ["acknowledged"]


def test_the_worker_stopping_is_not_a_failure():
    async def agent() -> None:
        batch = asyncio.create_task(or_end_process(asyncio.sleep(30), end=end))
        await asyncio.sleep(0)
        batch.cancel()  # what stopping the agent does to its task
        await batch

    with pytest.raises(asyncio.CancelledError):  # goes through to Faust
        asyncio.run(agent())


def test_a_send_cancelled_under_the_batch_is_a_failure():
    async def cancelled_send() -> None:
        send = asyncio.get_running_loop().create_future()
        send.cancel()  # e.g. a producer future cancelled while the agent itself keeps running
        await send

    with pytest.raises(Ended) as ended:
        asyncio.run(or_end_process(cancelled_send(), end=end))
    assert ended.value.args == (EXIT_BATCH_FAILED,)
