import numpy as np
import pytest

from detectors.emotion import EmotionHead
from detectors.encoder import MAX_TOKENS, Encoder, EncoderError, cgroup_cpu_quota, default_model_path, load_tokenizer
from detectors.features import pack_embedding, unpack_embedding

TEXTS = [
    "I can't stop crying and I feel so alone tonight.",
    "We went to the beach and had a wonderful time with the kids!",
    "My chest is tight and my heart is racing before every meeting.",
    "Thanks so much, that really helped me.",
    "",
]


def test_embeddings_are_unit_vectors_and_paraphrases_are_close(encoder):
    vectors = encoder.encode([*TEXTS, "I feel so lonely and keep crying at night."])
    assert vectors.shape == (6, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 5] > 0.6 > similarity[0, 1]


def test_batched_and_single_encoding_agree(encoder):
    batched = encoder.encode(TEXTS)
    single = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.allclose(batched, single, atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_turns_vector_does_not_depend_on_the_turns_encoded_beside_it(backend, encoder, onnx_encoder):
    # Neighbours of nearly the same length land in one padded group; int8 dynamic quantisation
    # used to scale the whole group together, so a replay that batched differently got other alerts.
    chosen = encoder if backend == "torch" else onnx_encoder
    turn = "I have been sleeping badly since the project started and my manager keeps moving deadlines."
    neighbours = [
        "Everything feels heavy lately and I do not know what to do, nothing helps anymore at all.",
        "I cooked a proper dinner for the first time in weeks and then my sister called me.",
    ]
    alone = chosen.encode([turn])[0]
    for batch in ([turn, *neighbours], [*neighbours, turn], [neighbours[0], turn, neighbours[0]]):
        beside = chosen.encode(batch)[batch.index(turn)]
        assert np.abs(alone - beside).max() < 1e-5


def test_onnx_calls_side_by_side_give_the_same_bits_as_one_call_at_a_time(onnx_cache, onnx_encoder):
    # The worker encodes a micro-batch's texts in parallel single-threaded calls, or (one long text
    # with a short sentence) in one call on every core; neither may change a vector.
    one_at_a_time = Encoder(backend="onnx", threads=1, cache_dir=onnx_cache)
    side_by_side = Encoder(backend="onnx", threads=2, cache_dir=onnx_cache)
    long_turn = " ".join(TEXTS[:4] * 4)
    for batch in (TEXTS, [long_turn, TEXTS[0]], [long_turn, *TEXTS]):
        expected = np.stack([one_at_a_time.encode([text])[0] for text in batch])
        assert np.array_equal(side_by_side.encode(batch), expected)


def test_the_tokenizer_without_transformers_gives_autotokenizers_ids_and_offsets():
    from transformers import AutoTokenizer

    model = str(default_model_path())
    reference = AutoTokenizer.from_pretrained(model, local_files_only=True)
    texts = [*TEXTS, "Café “quoted” 🙂 中文 zero\u200bwidth\u00a0space", "I'm   not\tOK\n\nreally", "word " * 400]
    expected = reference(texts, truncation=True, max_length=MAX_TOKENS, return_offsets_mapping=True)
    found = load_tokenizer(model).encode_batch(texts)
    assert [e.ids for e in found] == expected["input_ids"]
    assert [[tuple(o) for o in e.offsets] for e in found] == [
        [tuple(o) for o in row] for row in expected["offset_mapping"]
    ]


def test_onnx_int8_backend_stays_within_cosine_098_of_torch(encoder, onnx_encoder):
    onnx = onnx_encoder
    cosine = (encoder.encode(TEXTS) * onnx.encode(TEXTS)).sum(axis=1)
    assert cosine.min() >= 0.98, cosine


def test_a_model_that_is_not_local_is_refused_when_downloads_are_off(tmp_path):
    with pytest.raises(EncoderError, match="not a local directory"):
        Encoder("sentence-transformers/all-MiniLM-L6-v2")


def test_packed_embeddings_keep_their_direction(encoder):
    vector = encoder.encode(TEXTS[:1])[0]
    packed = pack_embedding(vector)
    assert len(packed) < 600
    assert float(vector @ unpack_embedding(packed)) > 0.999


def test_emotion_head_reads_clear_emotions(encoder):
    head = EmotionHead.load()
    assert len(head.labels) == 28 and head.labels[-1] == "neutral"
    probs = dict(
        zip(
            head.labels,
            head.probabilities(
                encoder.encode(
                    [
                        "I'm terrified something awful is going to happen to me.",
                    ]
                )
            )[0],
        )
    )
    assert probs["fear"] > 0.5 and probs["fear"] > probs["joy"]
    probs = dict(
        zip(head.labels, head.probabilities(encoder.encode(["Thank you so much, I really appreciate it!"]))[0])
    )
    assert probs["gratitude"] > 0.5 and probs["gratitude"] > probs["sadness"]


def test_a_containers_cpu_limit_caps_the_encoders_side_by_side_calls(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 2.0
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(tmp_path) is None
