from datetime import UTC, datetime, timedelta

from streams.contracts import Alert, SilenceEvent
from streams.delivery.silences import SilenceBook, SilenceReader
from tests.factories import ALERT_FIELDS

ALERT = Alert.model_validate(ALERT_FIELDS)  # crisis.active_ideation, conv-9
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def silence(silence_id="s1", matchers=None, starts=-60, ends=3600, updated=0) -> SilenceEvent:
    return SilenceEvent(
        silence_id=silence_id,
        matchers=matchers or [{"name": "conversation_id", "value": "conv-9"}],
        created_by="alice",
        comment="test conversation",
        starts_at=NOW + timedelta(seconds=starts),
        ends_at=NOW + timedelta(seconds=ends),
        updated_at=NOW + timedelta(seconds=updated),
    )


def test_an_active_matching_silence_silences_and_others_do_not():
    book = SilenceBook()
    book.add(silence())
    assert book.silencing(ALERT, NOW).silence_id == "s1"
    assert book.silencing(ALERT.model_copy(update={"conversation_id": "conv-1"}), NOW) is None
    assert book.silencing(ALERT, NOW + timedelta(hours=2)) is None, "expired"
    assert book.silencing(ALERT, NOW - timedelta(hours=1)) is None, "not started"
    assert book.active(NOW) == 1 and book.active(NOW + timedelta(hours=2)) == 0


def test_every_matcher_must_match_and_rules_take_globs():
    book = SilenceBook()
    book.add(silence(matchers=[{"name": "rule", "value": "crisis.*"}, {"name": "severity", "value": "high"}]))
    assert book.silencing(ALERT, NOW) is None
    assert book.silencing(ALERT.model_copy(update={"severity": "high"}), NOW) is not None


def test_the_newest_version_wins_whatever_order_they_are_read_in():
    book = SilenceBook()
    expired_early = silence(ends=30, updated=20)
    assert book.add(silence()) and book.add(expired_early)
    assert not book.add(silence()), "a replayed older version changes nothing"
    assert book.silencing(ALERT, NOW + timedelta(seconds=40)) is None
    assert len(book) == 1, "expired silences are kept (audit), they just never match"


def test_the_reader_skips_what_is_not_a_silence_and_honours_a_tombstone():
    book = SilenceBook()
    reader = SilenceReader(book, "silences", {})
    reader.read(b"s1", silence().to_json())
    reader.read(b"x", b"{not json")
    reader.read(b"y", b'{"silence_id": "y"}')
    assert len(book) == 1
    reader.read(b"s1", None)
    assert len(book) == 0
