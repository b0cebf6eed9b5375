import functools
import json
import operator

from streams.tooling.bench import PLACEHOLDER, Results, _interleaved, _records, percentile, plot, rss_bytes


def test_percentiles():
    values = list(range(1, 101))
    assert percentile(values, 50) in (50, 51) and percentile(values, 99) == 99 and percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0


def test_latency_records_carry_an_alert_trigger_per_conversation():
    records = _records(3, seed=2, broken_every=1)
    broken = [json.loads(r.value) for r in records if json.loads(r.value)["text"] == PLACEHOLDER]
    assert (
        len(broken) == 3 and {t["turn_index"] for t in broken} == {5} and {t["role"] for t in broken} == {"therapist"}
    )
    assert not any(json.loads(r.value)["text"] == PLACEHOLDER for r in _records(3, seed=2))


def test_rss_is_read_from_proc():
    assert rss_bytes() > 10 * 2**20


def test_results_plot(tmp_path):
    results = Results(
        backend="onnx",
        machine="test",
        encoder_batch1_tps=100,
        encoder_batched_tps=120,
        pipeline_tps=90,
        offered_tps=45,
        latency_ms={"p50": 80, "p95": 150, "p99": 200},
    )
    plot(results, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_histogram_quantile_between_snapshots():
    from streams.tooling.bench import histogram_quantile

    before = {0.1: 5, 0.25: 5, float("inf"): 5}
    after = {0.1: 55, 0.25: 100, float("inf"): 105}
    assert histogram_quantile(0.5, before, after) == 0.1
    assert 0.1 < histogram_quantile(0.9, before, after) <= 0.25
    assert histogram_quantile(0.99, before, after) == 0.25
    assert histogram_quantile(0.5, after, after) is None


def test_encoder_throughput_encodes_every_text_once_in_calls_of_call_size():
    from streams.tooling.bench import encoder_throughput

    class Recording:
        def __init__(self):
            self.calls = []

        def encode(self, texts):
            self.calls.append(list(texts))

    encoder, texts = Recording(), [f"t{i}" for i in range(150)]
    assert encoder_throughput(encoder, texts, call_size=64) > 0
    assert [len(c) for c in encoder.calls] == [64, 64, 22] and functools.reduce(
        operator.iadd, encoder.calls, []
    ) == texts


def test_the_latency_workload_yields_one_sample_per_short_conversation():
    from streams.tooling.bench import LATENCY_TURNS_PER_CONVERSATION, MIN_LATENCY_SAMPLES

    records = _records(
        int(MIN_LATENCY_SAMPLES * 1.1), seed=23, broken_every=1, turns_per_conversation=LATENCY_TURNS_PER_CONVERSATION
    )
    turns = [json.loads(r.value) for r in records]
    triggers = [t for t in turns if t["text"] == PLACEHOLDER]
    assert len(triggers) >= MIN_LATENCY_SAMPLES
    assert len({t["conversation_id"] for t in triggers}) == len(triggers)
    assert max(t["turn_index"] for t in turns) == LATENCY_TURNS_PER_CONVERSATION - 1


def test_changelog_bytes_are_charged_to_the_turns_each_head_added_with_their_records():
    from streams.monitor import state_codec
    from streams.tooling.bench_state import Changelogs

    def head(conversation, processed, window, pad=0):
        value = {"conversation_id": conversation, "turns_processed": processed, "window": window, "pad": "x" * pad}
        return json.dumps(conversation).encode(), state_codec.dumps(value)

    def record(conversation, index, size):
        return json.dumps(f"{conversation}#{index}").encode(), b"r" * size

    heads = [head("a", 2, [0, 1]), head("b", 1, [0]), head("a", 3, [1, 2]), head("a", 3, [1, 2], pad=5)]
    turns = [record("a", 0, 300), record("a", 1, 300), record("b", 0, 900), record("a", 2, 600), (b'"a#0"', None)]
    measured = Changelogs(heads, turns).bytes_per_turn()
    every_byte = sum(len(k) + len(v or b"") for k, v in heads + turns)  # the write that added no turn, the deletion
    assert measured["turns"] == 4 and measured["records"] == 9
    assert measured["mean"] == round(every_byte / 4, 1)
    first_a = (len(heads[0][0]) + len(heads[0][1]) + 2 * (300 + len(b'"a#0"'))) / 2
    second_a = len(heads[2][0]) + len(heads[2][1]) + 600 + len(b'"a#2"')
    b_only = len(heads[1][0]) + len(heads[1][1]) + 900 + len(b'"b#0"')
    assert measured["p99"] == max(first_a, second_a, b_only)
    assert Changelogs([], []).bytes_per_turn() == {}


def test_stored_conversations_join_each_latest_head_with_its_window_records():
    from streams.monitor import state_codec
    from streams.tooling.bench_state import Changelogs, conversation_bytes

    head = state_codec.dumps({"conversation_id": "a", "turns_processed": 3, "window": [1, 2]})
    turns = [(b'"a#0"', b"0"), (b'"a#1"', b"11"), (b'"a#2"', b"222"), (b'"a#0"', None)]
    stored = Changelogs([(b'"a"', b"old"), (b'"a"', head)], turns).stored_conversations()
    assert stored == {"a": (head, {1: b"11", 2: b"222"})}
    assert conversation_bytes(stored["a"]) == len(head) + 5


def test_the_burst_interleaves_conversations_and_keeps_each_ones_turns_in_order():
    records = _records(5, seed=3)
    mixed = _interleaved(records, width=3)
    assert sorted(r.value for r in mixed) == sorted(r.value for r in records)
    first_six = [r.key for r in mixed[:6]]
    assert len(set(first_six[:3])) == 3 and first_six[3:] == first_six[:3]
    for key in {r.key for r in records}:
        indexes = [json.loads(r.value)["turn_index"] for r in mixed if r.key == key]
        assert indexes == sorted(indexes)
