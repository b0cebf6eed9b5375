"""Who may write turns over HTTP: a token is required unless unauthenticated ingest is explicitly on."""

import pytest
from pydantic import SecretStr

from streams.ingest.http import ingest_policy, is_json
from streams.settings import Settings


def test_without_a_token_the_ingest_is_off_unless_explicitly_opened():
    assert ingest_policy(Settings()) == "off"
    assert ingest_policy(Settings(allow_unauthenticated_ingest=True)) == "open"
    assert ingest_policy(Settings(api_token=SecretStr("t"))) == "token"
    assert ingest_policy(Settings(api_token=SecretStr("t"), allow_unauthenticated_ingest=True)) == "token"


@pytest.mark.parametrize(
    "content_type, ok",
    [
        ("application/json", True),
        ("application/vnd.turnwatch+json", True),
        ("text/plain", False),
        ("application/octet-stream", False),
        ("", False),
    ],
)
def test_only_json_content_types_are_taken(content_type, ok):
    assert is_json(content_type) is ok
