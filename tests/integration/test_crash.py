"""Crash consistency end to end: ~2,000 turns, workers SIGKILLed mid-stream, against a clean run.

Real broker, real worker processes with delivery to a real (counting) webhook receiver; the
expected alerts come from the same pipeline run in-process without faults.
"""

from __future__ import annotations

import pytest

from streams.tooling.crashtest import CrashPlan, clean_alerts, run_crashtest, workload

pytestmark = pytest.mark.integration
TURNS = 2000
SEED = 11


@pytest.fixture(scope="module")
def clean():
    return clean_alerts(workload(TURNS, SEED))


def check(report) -> None:
    summary = "\n".join(report.lines())
    print(summary)
    assert report.caught_up, summary
    assert report.expected_alerts > 300, "the workload raises alerts of every detector"
    assert not report.missing and not report.unexpected, summary
    assert report.turn_gaps == 0, summary
    assert report.undelivered == 0, summary
    # Raw POSTs: a kill between a receiver's 200 and the delivered marker's changelog ack can
    # repeat one delivery (same Idempotency-Key); at most one per fault.
    assert report.duplicate_deliveries <= len(report.events), summary
    # A bad event replayed after a crash is dead-lettered again (once per delivery), never dropped.
    assert report.dead_letters.keys() == report.expected_dead_letters.keys(), summary
    assert all(report.dead_letters[r] >= n for r, n in report.expected_dead_letters.items()), summary


def test_three_sigkills_of_a_lone_worker_lose_no_alert_and_deliver_each_once(broker, tmp_path, clean):
    plan = CrashPlan(turns=TURNS, kills=3, workers=1, seed=SEED)
    report = run_crashtest(broker.address, plan, tmp_path, say=lambda line: None, clean=clean)
    assert sum(event.startswith("SIGKILL") for event in report.events) == 3, report.events
    check(report)


def test_two_workers_one_killed_and_one_added_mid_run_give_the_same_alerts(broker, tmp_path, clean):
    plan = CrashPlan(turns=TURNS, kills=1, workers=2, add_worker=True, seed=SEED)
    report = run_crashtest(broker.address, plan, tmp_path, say=lambda line: None, clean=clean)
    assert any(event.startswith("added") for event in report.events), report.events
    check(report)
