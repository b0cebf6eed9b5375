"""The session-quality score from per-turn code tallies, without any model."""

from detectors.therapist.quality import LINE, MIN_TURNS, RUN_WARNING, SessionQuality, TurnTally, components, score


def tally(simple=0, complex_=0, questions=0, consistent=0, inconsistent=0, empathy=0, ai=40, patient=40):
    return TurnTally(simple, complex_, questions, consistent, inconsistent, empathy, ai, patient)


GOOD = tally(simple=1, complex_=2, questions=1, consistent=1, empathy=4, ai=45, patient=60)
POOR = tally(questions=3, inconsistent=3, empathy=0, ai=120, patient=15)


def test_components_follow_the_miti_summary_scores():
    parts = components([GOOD] * 4)
    assert parts["reflection_to_question"] == 1.0  # 3 reflections to 1 question
    assert parts["complex_reflections"] == 1.0  # 2 of 3 complex, above the 50 % "good" mark
    assert parts["mi_consistency"] == 1.0
    assert abs(parts["empathy"] - 4 / 6) < 1e-9
    assert parts["talk_share"] > 0.9  # the patient talked more
    poor = components([POOR] * 4)
    assert poor["reflection_to_question"] == 0.0 and poor["mi_consistency"] == 0.0 and poor["talk_share"] == 0.0
    assert "complex_reflections" not in poor  # nothing to go on: left out, not counted good or bad
    assert score(parts) > 0.8 > LINE > score(poor)


def test_no_score_before_enough_ai_turns_then_a_rolling_one():
    session = SessionQuality()
    assert [session.add(GOOD) for _ in range(MIN_TURNS - 1)] == [None] * (MIN_TURNS - 1)
    assert session.add(GOOD) > LINE
    for _ in range(11):
        session.add(POOR)
    assert session.last < LINE and session.low_run >= RUN_WARNING  # the window forgot the good start
    for _ in range(8):
        session.add(GOOD)
    assert session.last > LINE and session.low_run == 0


def test_session_memory_round_trips():
    session = SessionQuality()
    for item in (GOOD, POOR, GOOD, POOR, POOR):
        session.add(item)
    again = SessionQuality.from_dict(session.to_dict())
    assert again == session
