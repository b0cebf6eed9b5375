"""What the shared seed transcripts and our own examples must (and must not) raise."""

from streams.examples import EXAMPLES_DIR

SEVERITY = {"info": 1, "warning": 2, "high": 3, "critical": 4}


def by_detector(alerts, detector):
    return [a for a in alerts if a.detector == detector]


def test_000_raises_distress_and_no_crisis_page(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "000_84769077cb1426a9.txt")
    assert {a.rule for a in by_detector(alerts, "distress")} & {"distress.sustained_high", "distress.escalating"}
    # No crisis page; at most a warning-level review item (catastrophising near the review threshold).
    assert all(a.rule == "crisis.possible" and a.severity == "warning" for a in by_detector(alerts, "crisis"))
    assert len(by_detector(alerts, "crisis")) <= 1


def test_004_raises_no_distress_and_no_crisis_page(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "004_d02cb9338fda1a3f.txt")
    assert by_detector(alerts, "distress") == []
    # At most one review item: the patient fears everything falling apart "me included" (ambiguous, not paged).
    assert [a.rule for a in by_detector(alerts, "crisis")] in ([], ["crisis.possible"])
    assert not [a for a in alerts if a.severity == "critical"]


def test_002_raises_no_crisis_page_and_at_most_warning_distress(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "002_3e25300b322c7160.txt")
    # No page; at most one warning-level review item (loneliness and feeling trapped, gathered over turns).
    assert all(a.rule == "crisis.possible" and a.severity == "warning" for a in by_detector(alerts, "crisis"))
    assert len(by_detector(alerts, "crisis")) <= 1
    assert all(SEVERITY[a.severity] <= SEVERITY["warning"] for a in by_detector(alerts, "distress"))


def rules_of(scan_alerts, name, detector=None):
    return {(a.rule, a.severity) for a in scan_alerts(EXAMPLES_DIR / name) if detector in (None, a.detector)}


def test_explicit_crisis_example_is_critical_on_the_disclosure_turns(scan_alerts):
    alerts = by_detector(scan_alerts(EXAMPLES_DIR / "01_escalating_distress_crisis.txt"), "crisis")
    rules = {a.rule for a in alerts}
    assert {"crisis.passive_ideation", "crisis.method"} <= rules
    # Turn 10 ("pills counted out … going to take them tonight") is both preparation and intent: either step pages.
    assert rules & {"crisis.preparatory_behaviour", "crisis.intent_or_plan"}
    assert all(a.severity == "critical" for a in alerts)
    assert {a.turns[-1] for a in alerts} == {8, 10}  # raised on the disclosure turns, quoting what led there
    distress = by_detector(scan_alerts(EXAMPLES_DIR / "01_escalating_distress_crisis.txt"), "distress")
    assert "distress.escalating" in {a.rule for a in distress}


def test_euphemistic_crisis_example(scan_alerts):
    rules = rules_of(scan_alerts, "02_euphemistic_crisis.txt", "crisis")
    assert ("crisis.passive_ideation", "critical") in rules
    assert ("crisis.preparatory_behaviour", "critical") in rules


def test_negated_third_party_and_history_example_raises_only_history(scan_alerts):
    assert rules_of(scan_alerts, "03_negation_history_third_party.txt", "crisis") == {("crisis.history", "warning")}
    assert by_detector(scan_alerts(EXAMPLES_DIR / "03_negation_history_third_party.txt"), "distress") == []


def test_ordinary_sadness_raises_nothing(scan_alerts):
    assert scan_alerts(EXAMPLES_DIR / "04_ordinary_sadness.txt") == []


def rules_in(alerts, detector):
    return {a.rule for a in by_detector(alerts, detector)}


def test_000_raises_a_patient_loop_and_a_therapist_loop(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "000_84769077cb1426a9.txt")
    assert {"loop.patient_refrain", "loop.therapist_template"} <= rules_in(alerts, "loop")
    template = [a for a in alerts if a.rule == "loop.therapist_template"]
    assert any(
        any(word in e.why for e in a.evidence for word in ("breath", "attention", "sensation", "notice", "change"))
        for a in template
    )


def test_002_raises_the_promise_and_a_patient_refrain(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "002_3e25300b322c7160.txt")
    promise = [a for a in alerts if a.rule == "therapist.out_of_conversation_promise"]
    assert promise and promise[0].turns == [19] and "remind" in promise[0].evidence[0].why
    assert "loop.patient_refrain" in rules_in(alerts, "loop")


def test_004_raises_no_loop_and_no_therapist_alert_but_malformed(shared_transcripts, scan_alerts):
    alerts = scan_alerts(shared_transcripts / "004_d02cb9338fda1a3f.txt")
    assert by_detector(alerts, "loop") == []
    others = [a for a in by_detector(alerts, "therapist") if a.rule != "therapist.malformed"]
    assert all(a.rule == "therapist.ai_feelings" and a.severity == "info" for a in others)
    assert "therapist.malformed" in rules_in(alerts, "therapist")


def test_examples_cover_every_therapist_rule_and_loop_kind(scan_alerts):
    from detectors.therapist import RULES

    raised = {a.rule for path in EXAMPLES_DIR.iterdir() for a in scan_alerts(path)}
    assert {f"therapist.{rule.__name__}" for rule in RULES} <= raised
    assert {"loop.patient_refrain", "loop.therapist_template", "loop.cycle"} <= raised
