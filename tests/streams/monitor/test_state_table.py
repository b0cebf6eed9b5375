"""Changelog recovery keeps the newest state of each conversation, whatever order it reads."""

from types import SimpleNamespace

from streams.monitor.state_table import last_index, newest_only


def record(key, state):
    return SimpleNamespace(key=key, value=state, message=SimpleNamespace(value=b"x" if state is not None else None))


def test_a_late_write_of_an_older_state_is_skipped():
    batch = [record("a", {"last_index": 5}), record("a", {"last_index": 9}), record("a", {"last_index": 7})]
    kept = newest_only(batch, current=lambda key: None)
    assert [r.value["last_index"] for r in kept] == [5, 9]


def test_what_the_store_already_holds_counts_as_known():
    kept = newest_only(
        [record("a", {"last_index": 3}), record("b", {"last_index": 3})],
        current=lambda key: {"last_index": 4} if key == "a" else None,
    )
    assert [r.key for r in kept] == ["b"]


def test_the_same_state_written_twice_is_kept_and_deletions_always_pass():
    batch = [
        record("a", {"last_index": 4}),
        record("a", {"last_index": 4}),
        record("a", None),
        record("a", {"last_index": 1}),
    ]
    kept = newest_only(batch, current=lambda key: None)
    assert [r.value for r in kept] == [{"last_index": 4}, {"last_index": 4}, None, {"last_index": 1}]


def test_last_index_reads_raw_and_decoded_values():
    assert last_index(b'{"last_index": 12}') == 12
    assert last_index({"last_index": 0}) == 0
    assert last_index(b"not json") == -1 and last_index(None) == -1
