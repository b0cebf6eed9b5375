"""The vendored Suicide Risk Lexicon: what it holds, how a sentence matches a construct."""

import json

from detectors.crisis.lexicon import LEXICON_FILE, Lexicon


def test_the_vendored_copy_holds_every_construct_with_its_licence_and_source():
    document = json.loads(LEXICON_FILE.read_text())
    assert len(document["constructs"]) == 50
    assert "Apache-2.0" in document["source"] and "construct-tracker 1.0.16" in document["source"]
    assert (LEXICON_FILE.parent / "LICENSE").read_text().startswith(" " * 33 + "Apache License")
    assert "construct-tracker" in (LEXICON_FILE.parent / "NOTICE").read_text()
    keys = {c["key"] for c in document["constructs"]}
    assert {"passive_suicidal_ideation", "lethal_means_for_suicide", "hopelessness", "burdensomeness"} <= keys
    for construct in document["constructs"]:
        assert set(construct["prototypical"]) <= set(construct["tokens"]) | set(construct["prototypical"])
        assert construct["definition"] or construct["key"] == "hospitalization"  # published without one


def found(sentence: str) -> dict[str, str]:
    return {m.construct: m.phrase for m in Lexicon.load().matches(sentence)}


def test_a_sentence_matches_the_constructs_whose_tokens_it_holds_as_whole_words():
    matched = found("Honestly I feel hopeless, like there is no escape from any of this.")
    assert matched["hopelessness"] == "hopeless"
    assert matched["entrapment_desire_to_escape"] == "there is no escape"
    assert "hopelessness" not in found("The hopelessnesses of grammar")  # whole words only
    assert found("They would all be better off without me")["burdensomeness"] == "better off without me"


def test_acronyms_match_only_as_written_and_short_tokens_never_alone():
    assert "lethal_means_for_suicide" in found("I tried to OD last spring")
    assert "lethal_means_for_suicide" not in found("the od thing about it")
    assert not found("er, well, 0 to 1")


def test_an_ordinary_sentence_matches_no_suicide_construct():
    suicide = {"passive_suicidal_ideation", "active_suicidal_ideation_suicidal_planning", "lethal_means_for_suicide"}
    assert not suicide & set(found("We planted tomatoes in the garden and went for a walk."))


def test_reviewers_read_short_labels():
    lexicon = Lexicon.load()
    assert lexicon.label("lethal_means_for_suicide") == "lethal means"
    assert lexicon.label("hopelessness") == "hopelessness"
    assert lexicon.label("burdensomeness") == "perceived burdensomeness"
