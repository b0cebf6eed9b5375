"""The crash test's verdict on repeated webhook deliveries matches what the README promises."""

from streams.tooling.crashtest import CrashReport


def report(**fields) -> CrashReport:
    return CrashReport(turns=10, conversations=2, expected_alerts=3, observed_alerts=3, caught_up=True, **fields)


def test_repeats_within_the_documented_window_pass_and_beyond_it_fail():
    assert report(duplicate_deliveries=0, redelivery_bound=0).ok
    assert report(duplicate_deliveries=2, redelivery_bound=12).ok  # 3 kills x 4 partitions
    assert not report(duplicate_deliveries=13, redelivery_bound=12).ok
    assert not report(duplicate_deliveries=1, redelivery_bound=0).ok  # no kill, no excuse


def test_a_lost_delivery_fails_whatever_the_repeats():
    assert not report(undelivered=1, redelivery_bound=12).ok
