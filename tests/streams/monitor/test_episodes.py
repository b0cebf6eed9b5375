from detectors.findings import Evidence, Finding, Severity
from streams.monitor.episodes import EpisodeBook, alert_id


def finding(severity, episode="", opened_at=0, rule="loop.cycle", recurring=False):
    return Finding(
        "loop",
        rule,
        severity,
        opened_at,
        (opened_at,),
        (Evidence(opened_at, "patient", "q", "w"),),
        "s",
        "a",
        episode=episode,
        recurring=recurring,
    )


def test_one_alert_per_episode_and_again_only_at_a_higher_severity():
    book = EpisodeBook("c", {})
    first = book.admit(finding(Severity.WARNING, opened_at=3))
    assert first == alert_id("c", "loop.cycle", 3)
    assert book.admit(finding(Severity.WARNING, opened_at=7)) is None  # same episode, same severity
    assert book.admit(finding(Severity.INFO, opened_at=8)) is None
    assert book.admit(finding(Severity.HIGH, opened_at=9)) == first  # escalation keeps the episode's identity


def test_a_relapse_at_a_seen_severity_is_quiet_and_a_worse_one_is_a_new_alert():
    data: dict = {}
    book = EpisodeBook("c", data)
    a = book.admit(finding(Severity.WARNING, episode="2", opened_at=2))
    assert book.admit(finding(Severity.WARNING, episode="10", opened_at=10)) is None
    b = book.admit(finding(Severity.HIGH, episode="10", opened_at=11))
    assert a == alert_id("c", "loop.cycle", 2) and b == alert_id("c", "loop.cycle", 10)
    # rules are separate; the book is plain data kept in the conversation state
    assert book.admit(finding(Severity.WARNING, episode="2", opened_at=2, rule="loop.patient_refrain")) is not None
    assert EpisodeBook("c", data).admit(finding(Severity.WARNING, episode="2", opened_at=2)) is None


def test_recurring_findings_alert_on_every_new_episode():
    book = EpisodeBook("c", {})
    ids = [book.admit(finding(Severity.HIGH, episode=str(i), opened_at=i, recurring=True)) for i in (1, 5, 9)]
    assert None not in ids and len(set(ids)) == 3
    assert book.admit(finding(Severity.HIGH, episode="5", opened_at=5, recurring=True)) is None
