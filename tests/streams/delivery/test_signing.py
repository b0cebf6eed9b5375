import pytest

from streams.delivery.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    signed_headers,
    verify_signature,
)

SECRET = b"s3cret"
BODY = b'{"alert_id": "a1"}'


def test_a_signed_body_verifies():
    headers = signed_headers(SECRET, BODY, now=1000)
    verify_signature(SECRET, headers, BODY, now=1010)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda h, b: (h, b + b" "), "does not match"),
        (lambda h, b: (h, b.replace(b"a1", b"a2")), "does not match"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "1"}, b), "tolerance"),
        (lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE_HEADER}, b), "missing"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "soon"}, b), "integer"),
    ],
)
def test_tampering_and_stale_timestamps_are_rejected(mutate, message):
    headers, body = mutate(signed_headers(SECRET, BODY, now=1000), BODY)
    with pytest.raises(SignatureError, match=message):
        verify_signature(SECRET, headers, body, now=1010)


def test_the_wrong_secret_is_rejected():
    with pytest.raises(SignatureError):
        verify_signature(b"other", signed_headers(SECRET, BODY, now=1000), BODY, now=1000)


def test_a_replay_after_the_tolerance_is_rejected():
    headers = signed_headers(SECRET, BODY, now=1000)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(SECRET, headers, BODY, now=1000 + 301)
