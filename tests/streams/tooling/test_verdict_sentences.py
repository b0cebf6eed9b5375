"""Finding the sentence an alert quoted, and keeping only the labels reviewers agree on."""

from __future__ import annotations

from streams.tooling.verdict_sentences import agreed, quoted_span

TEXT = "Hi there -  you are overreacting; calm down.\nIt is really not a big deal at all, honestly."
SPANS = [(0, 10), (12, 44), (45, len(TEXT))]


def test_the_quote_is_found_as_the_same_words_whatever_the_whitespace():
    assert quoted_span(["you are overreacting;   calm down."], TEXT, SPANS) == 1


def test_a_quote_cut_short_finds_the_sentence_it_begins():
    assert quoted_span(["It is really not a big…"], TEXT, SPANS) == 2


def test_a_quote_of_a_whole_line_across_sentences_or_a_redacted_one_is_no_sentence():
    assert quoted_span(["Hi there - you are overreacting; calm down."], TEXT, SPANS) is None
    assert quoted_span(["you are [redacted]; calm down."], TEXT, SPANS) is None
    assert quoted_span(["Hi there"], TEXT, SPANS) is None, "a shorter quote not cut with … is not a prefix match"


def test_identical_rows_keep_one_and_disagreements_keep_none():
    rows = [("a", "shame"), ("a", "shame"), ("b", "none"), ("b", "history"), ("c", "none")]
    assert agreed(rows, key=lambda r: r[0], label=lambda r: r[1]) == [("a", "shame"), ("c", "none")]
