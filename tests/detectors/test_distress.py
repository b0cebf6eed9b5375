import pytest

from detectors.crisis.signals import CrisisDecision, CrisisSignals, RiskSentence
from detectors.distress import DETECTOR, trajectory
from detectors.extractor import distress_score
from detectors.features import Cues, Distress, Emotions, TurnFeatures
from detectors.findings import Severity
from detectors.state import ConversationState, TurnRecord
from streams.monitor.episodes import EpisodeBook


def run(scores, state=None):
    """Feed patient turns with the given distress scores; return findings per patient turn."""
    state = state or ConversationState("c")
    out = []
    start = state.last_index + 1
    for n, score in enumerate(scores):
        index = start + 2 * n
        turn = TurnRecord(
            index,
            "patient",
            f"turn {index}",
            TurnFeatures(distress=Distress(score), cues=Cues({}), emotions=Emotions({})),
        )
        state.record(turn)
        out.append(DETECTOR.detect(state, turn))
        state.record(TurnRecord(index + 1, "therapist", "I hear you."))
    return out, state


def rules(findings):
    return [(f.rule, f.severity) for f in findings]


def test_rising_distress_is_escalating():
    out, _ = run([0.2, 0.35, 0.55, 0.72])
    assert ("distress.escalating", Severity.WARNING) in rules(out[-1])


def test_rising_to_very_high_is_high_severity():
    out, _ = run([0.1, 0.3, 0.6, 0.9])
    assert ("distress.escalating", Severity.HIGH) in rules(out[-1])


def test_sustained_high_distress():
    out, _ = run([0.7, 0.72, 0.68])
    assert rules(out[-1]) == [("distress.sustained_high", Severity.WARNING)]
    out, _ = run([0.85, 0.9, 0.88, 0.92])
    assert ("distress.sustained_high", Severity.HIGH) in rules(out[-1])


@pytest.mark.parametrize(
    "scores",
    [
        [0.1, 0.2, 0.15, 0.1, 0.2],  # calm
        [0.2, 0.8, 0.1, 0.2],  # one sad turn
        [0.5, 0.55, 0.5, 0.58],  # moderate and flat
        [0.9, 0.6, 0.4, 0.2],  # falling
    ],
)
def test_no_alert_without_escalation_or_sustained_high(scores):
    out, _ = run(scores)
    assert all(f == [] for f in out)


def test_an_episode_keeps_its_key_until_calm_and_becomes_one_alert():
    out, state = run([0.7, 0.7, 0.7, 0.72])
    findings = [f for step in out for f in step]
    assert {f.episode for f in findings} == {"0"}
    book = EpisodeBook("c", state.episodes)
    assert len({book.admit(f) for f in findings} - {None}) == 1  # repeats of the episode: one alert
    out2, _ = run([0.1, 0.1, 0.1, 0.1, 0.7, 0.7, 0.7], state)
    later = [f for step in out2 for f in step if f.rule == "distress.sustained_high"]
    assert later and "0" not in {f.episode for f in later}  # after 3 calm turns, a new episode
    assert {book.admit(f) for f in later} == {None}  # a relapse at a severity already alerted stays quiet


def test_one_calmer_turn_does_not_end_the_episode():
    out, _state = run([0.7, 0.7, 0.7, 0.2, 0.7, 0.7, 0.7])
    assert {f.episode for step in out for f in step} == {"0"}


def test_trajectory_level_and_slope():
    _, state = run([0.2, 0.4, 0.6])
    path = trajectory(state)
    assert path.slope == pytest.approx(0.2)
    assert 0.4 < path.level < 0.6


def test_distress_score_combines_emotions_cues_hedges_and_crisis():
    none = CrisisSignals()
    sadness = Emotions({"sadness": 0.8, "fear": 0.5})
    calm = distress_score(Emotions({"joy": 0.8}), Cues({}), none)
    sad = distress_score(sadness, Cues({}), none)
    sad_with_cues = distress_score(sadness, Cues({"exhaustion": "x", "hopelessness": "y"}), none)
    hedged = distress_score(sadness, Cues({}), none, "I guess maybe it's a bit sad, I think")
    paged = CrisisSignals(
        CrisisDecision.PAGE, (RiskSentence(0, 5, "passive_ideation", 0.95, 0.0),), ("passive_ideation",)
    )
    crisis = distress_score(Emotions({}), Cues({}), paged)
    assert calm < 0.1 < sad < sad_with_cues <= 1.0
    assert hedged < sad
    assert crisis >= 0.9


def test_features_flag_distressed_text_and_not_calm_text(extractor):
    texts = [
        "I'm so exhausted and overwhelmed, my chest is tight all day and nothing will ever get better.",
        "We had a lovely walk by the river and I feel calm and grateful today.",
    ]
    distressed, calm = extractor.extract(texts, ["patient", "patient"], [{}, {}])
    assert distressed.distress.score > 0.7 > 0.3 > calm.distress.score
    assert set(distressed.cues.names()) >= {"exhaustion", "overwhelm", "somatic_anxiety", "hopelessness"}
    therapist = extractor.extract(["You sound exhausted."], ["therapist"], [{}])[0]
    assert therapist.embedding is not None and therapist.distress is None
    (blank,) = extractor.extract(["   "], ["patient"], [{}])
    assert blank.distress.score == 0.0
