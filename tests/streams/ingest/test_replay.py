from datetime import UTC, datetime, timedelta

from streams.ingest.files import Record
from streams.ingest.replay import paced

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rec(key, seconds, label):
    return Record(key=key, value=label.encode(), ts=T0 + timedelta(seconds=seconds))


def test_without_speed_records_keep_file_order_and_never_sleep():
    records = [rec("a", 10, "a1"), rec("b", 0, "b0")]
    sleeps = []
    assert list(paced(records, None, sleeps.append)) == records and sleeps == []


def test_conversations_start_together_and_keep_their_rhythm():
    records = [rec("a", 0, "a0"), rec("a", 20, "a1"), rec("b", 3600, "b0"), rec("b", 3610, "b1")]
    sleeps = []
    order = [r.value.decode() for r in paced(records, 10.0, sleeps.append)]
    assert order == ["a0", "b0", "b1", "a1"]
    assert sleeps == [1.0, 1.0]
