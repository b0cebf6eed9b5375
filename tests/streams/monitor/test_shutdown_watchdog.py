"""The shutdown watchdog ends the process once its grace period is over, and only once."""

import threading

from streams.monitor.shutdown import EXIT_AFTER_GRACE, ShutdownWatchdog


def test_an_armed_watchdog_ends_the_process_after_the_grace_period_once():
    ended = []
    done = threading.Event()

    def end(code: int) -> None:
        ended.append(code)
        done.set()

    watchdog = ShutdownWatchdog(0.05, end=end)
    assert not done.wait(0.2)  # not armed: nothing happens
    watchdog.arm()
    watchdog.arm()  # a second signal does not start a second clock
    assert done.wait(30)
    assert watchdog.fired.wait(1)
    assert ended == [EXIT_AFTER_GRACE]
