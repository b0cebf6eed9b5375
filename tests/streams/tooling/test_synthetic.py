from streams.contracts import parse_turn
from streams.tooling.synthetic import conversations


def test_synthetic_conversations_have_realistic_sizes_and_valid_events():
    convs = list(conversations(30, seed=3))
    assert all(20 <= len(c) <= 60 for c in convs)
    words = [len(t["text"].split()) for c in convs for t in c]
    assert min(words) >= 20 and max(words) <= 200
    assert all(parse_turn(t) for c in convs[:3] for t in c)
    assert list(conversations(2, seed=3)) == convs[:2]
