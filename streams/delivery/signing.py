"""HMAC-SHA256 signatures for webhook deliveries, and the helper receivers use to verify them.

The sender signs ``f"{timestamp}.".encode() + body`` with the shared secret and sends
``X-Turnwatch-Timestamp: <unix seconds>`` and ``X-Turnwatch-Signature: v1=<hex digest>``.
A receiver verifies with ``verify_signature(secret, headers, body)``: it recomputes the
digest over the raw body it received, compares in constant time and rejects timestamps
older (or newer) than the tolerance, which stops replays of captured requests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Turnwatch-Signature"
TIMESTAMP_HEADER = "X-Turnwatch-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    pass


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify_signature(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise SignatureError unless ``body`` was signed with ``secret`` within ``tolerance`` seconds."""
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_timestamp = lowered.get(TIMESTAMP_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not raw_timestamp or not signature:
        raise SignatureError("missing signature or timestamp header")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise SignatureError("timestamp is not an integer") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(f"timestamp outside the {tolerance}s tolerance")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise SignatureError("signature does not match the body")
