from detectors.findings import Evidence, Finding, Severity
from streams.episodes import EpisodeBook, alert_id


def finding(severity, episode="", opened_at=0, rule="loop.cycle"):
    return Finding("loop", rule, severity, opened_at, (opened_at,), (Evidence(opened_at, "patient", "q", "w"),), "s", "a",
                   episode=episode)


def test_one_alert_per_episode_and_again_only_at_a_higher_severity():
    book = EpisodeBook("c", {})
    first = book.admit(finding(Severity.WARNING, opened_at=3))
    assert first == alert_id("c", "loop.cycle", 3)
    assert book.admit(finding(Severity.WARNING, opened_at=7)) is None  # same episode, same severity
    assert book.admit(finding(Severity.INFO, opened_at=8)) is None
    assert book.admit(finding(Severity.HIGH, opened_at=9)) == first  # escalation keeps the episode's identity


def test_a_new_episode_is_a_new_alert_and_rules_are_separate():
    data: dict = {}
    book = EpisodeBook("c", data)
    a = book.admit(finding(Severity.WARNING, episode="2", opened_at=2))
    b = book.admit(finding(Severity.WARNING, episode="10", opened_at=10))
    c = book.admit(finding(Severity.WARNING, episode="2", opened_at=2, rule="loop.patient_refrain"))
    assert len({a, b, c}) == 3 and None not in {a, b, c}
    # the book is plain data kept in the conversation state
    assert EpisodeBook("c", data).admit(finding(Severity.WARNING, episode="2", opened_at=2)) is None
