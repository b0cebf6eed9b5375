"""Console access: the tokens file, signed sessions, CSRF, roles, proxy mode (unit and over HTTP)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from streams.console.auth import SESSION_COOKIE, Authenticator, Identity, load_tokens
from streams.console.live import LiveFeed
from streams.console.store import AlertStore
from streams.console.web import create_console_app
from streams.errors import ConfigError
from streams.settings import Settings
from tests.factories import ALERT_FIELDS

REVIEWER_TOKEN = "reviewer-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789ab"
SECRET = "test-session-secret-0123456789"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def write_tokens(path: Path, tokens: dict) -> Path:
    path.write_text(yaml.safe_dump(tokens))
    return path


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    return write_tokens(
        tmp_path / "tokens.yaml",
        {
            REVIEWER_TOKEN: {"user": "rita", "role": "reviewer"},
            VIEWER_TOKEN: {"user": "victor", "role": "viewer"},
        },
    )


@pytest.fixture
def store(tmp_path: Path):
    from streams.contracts import Alert

    store = AlertStore.open(f"sqlite:///{tmp_path / 'console.db'}")
    store.save_alert(Alert.model_validate(ALERT_FIELDS))
    yield store
    close = getattr(store, "close", None)
    if close is not None:
        close()


@pytest.fixture
def published() -> list:
    return []


def make_app(store, settings: Settings, published: list):
    async def publish(event) -> None:
        published.append(event)

    return create_console_app(store, settings, LiveFeed(), publish)


async def sign_in(client: TestClient, token: str, next_path: str = "/"):
    form = await client.get("/login")
    assert form.status == 200
    csrf = CSRF_FIELD.search(await form.text()).group(1)
    return await client.post("/login", data={"token": token, "csrf": csrf, "next": next_path}, allow_redirects=False)


async def page_csrf(client: TestClient, path: str = "/alerts/abc123", headers: dict | None = None) -> str:
    response = await client.get(path, headers=headers)
    assert response.status == 200
    return CSRF_FIELD.search(await response.text()).group(1)


# --- the tokens file ------------------------------------------------------------------------------


def test_tokens_file_is_read(tokens_file: Path):
    assert load_tokens(tokens_file) == {REVIEWER_TOKEN: ("rita", "reviewer"), VIEWER_TOKEN: ("victor", "viewer")}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("- a\n- b\n", "non-empty mapping"),
        ("{}", "non-empty mapping"),
        ("key: [unclosed\n", "not valid YAML"),
        (yaml.safe_dump({REVIEWER_TOKEN: {"user": "rita", "role": "admin"}}), "role must be viewer or reviewer"),
        (yaml.safe_dump({REVIEWER_TOKEN: {"role": "reviewer"}}), "user must be a non-empty string"),
        (yaml.safe_dump({REVIEWER_TOKEN: "rita"}), "expected a mapping"),
        (yaml.safe_dump({"short": {"user": "rita", "role": "reviewer"}}), "at least 16 characters"),
        (yaml.safe_dump({REVIEWER_TOKEN: {"user": "r", "role": "reviewer", "extra": 1}}), "unknown keys extra"),
        ("12345678901234567890: {user: rita, role: reviewer}\n", "must be a string"),
    ],
)
def test_a_bad_tokens_file_is_a_config_error_naming_the_key(tmp_path: Path, content: str, expected: str):
    path = tmp_path / "tokens.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_tokens(path)
    message = str(caught.value)
    assert "console_tokens_file" in message and expected in message
    assert REVIEWER_TOKEN not in message  # a token is a secret: never in an error


def test_token_mode_needs_a_tokens_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="console_tokens_file"):
        Authenticator.from_settings(Settings(console_auth="token"))
    with pytest.raises(ConfigError, match="console_tokens_file"):
        Authenticator.from_settings(Settings(console_tokens_file=tmp_path / "missing.yaml"))


# --- sessions and CSRF (unit) ---------------------------------------------------------------------


def test_session_cookie_round_trip_tamper_expiry_and_revocation(tokens_file: Path):
    auth = Authenticator.from_settings(Settings(console_tokens_file=tokens_file, console_session_secret=SECRET))
    assert auth.login("not-a-token") is None
    identity, cookie = auth.login(REVIEWER_TOKEN, now=1000.0)
    assert (identity.user, identity.role) == ("rita", "reviewer")
    assert auth.read_session(cookie, now=1001.0) == identity
    body, mac = cookie.split(".")
    assert auth.read_session(body + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"), now=1001.0) is None
    assert auth.read_session(body[:-2] + "xx." + mac, now=1001.0) is None
    assert auth.read_session(cookie, now=1000.0 + auth.session_seconds + 1) is None
    # another secret (another deployment) does not accept it
    other = Authenticator.from_settings(Settings(console_tokens_file=tokens_file, console_session_secret="x" * 32))
    assert other.read_session(cookie, now=1001.0) is None
    auth.revoke(identity, now=1002.0)
    assert auth.read_session(cookie, now=1003.0) is None


def test_a_session_ends_when_its_token_leaves_the_file(tmp_path: Path, tokens_file: Path):
    auth = Authenticator.from_settings(Settings(console_tokens_file=tokens_file, console_session_secret=SECRET))
    _, cookie = auth.login(VIEWER_TOKEN)
    write_tokens(tokens_file, {REVIEWER_TOKEN: {"user": "rita", "role": "reviewer"}})
    restarted = Authenticator.from_settings(Settings(console_tokens_file=tokens_file, console_session_secret=SECRET))
    assert restarted.read_session(cookie) is None


def test_csrf_token_is_bound_to_the_session(tokens_file: Path):
    auth = Authenticator.from_settings(Settings(console_tokens_file=tokens_file))
    one, two = Identity("rita", "reviewer", "session-1"), Identity("rita", "reviewer", "session-2")
    assert auth.check_csrf(one, auth.csrf_token(one))
    assert not auth.check_csrf(one, auth.csrf_token(two))
    assert not auth.check_csrf(one, "")
    assert not auth.check_csrf(one, None)


def test_proxy_identity_from_headers():
    auth = Authenticator.from_settings(Settings(console_auth="proxy"))
    assert auth.from_headers({}) is None
    assert auth.from_headers({"X-Forwarded-User": "  "}) is None
    assert auth.from_headers({"X-Forwarded-User": "pat", "X-Forwarded-Role": "Reviewer"}).role == "reviewer"
    assert auth.from_headers({"X-Forwarded-User": "pat", "X-Forwarded-Role": "admin"}).role == "viewer"
    assert auth.from_headers({"X-Forwarded-User": "pat"}).role == "viewer"


# --- over HTTP ------------------------------------------------------------------------------------


async def test_token_sign_in_sets_a_strict_httponly_cookie_and_opens_the_console(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file, console_session_secret=SECRET)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        anonymous = await client.get("/", allow_redirects=False)
        assert anonymous.status == 303 and anonymous.headers["Location"].startswith("/login")
        assert (await client.get("/events")).status == 401
        assert (await client.get("/alerts/abc123", allow_redirects=False)).status == 303

        signed_in = await sign_in(client, REVIEWER_TOKEN, next_path="/alerts/abc123")
        assert signed_in.status == 303 and signed_in.headers["Location"] == "/alerts/abc123"
        cookie = signed_in.cookies[SESSION_COOKIE]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        page = await client.get("/alerts/abc123")
        assert page.status == 200 and "rita" in await page.text()


async def test_a_wrong_token_is_refused(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        refused = await sign_in(client, "wrong-token-0123456789")
        assert refused.status == 401 and "not accepted" in await refused.text()
        assert SESSION_COOKIE not in refused.cookies
        assert (await client.get("/", allow_redirects=False)).status == 303


async def test_sign_in_needs_its_form_token_and_stays_on_this_site(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        forged = await client.post("/login", data={"token": REVIEWER_TOKEN, "next": "/"}, allow_redirects=False)
        assert forged.status == 403 and SESSION_COOKIE not in forged.cookies
        away = await sign_in(client, REVIEWER_TOKEN, next_path="//evil.example/x")
        assert away.status == 303 and away.headers["Location"] == "/"


async def test_sign_out_ends_the_session(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        await sign_in(client, VIEWER_TOKEN)
        cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[SESSION_COOKIE].value
        csrf = await page_csrf(client, "/")
        assert (await client.post("/logout", data={}, allow_redirects=False)).status == 403
        out = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert out.status == 303 and out.headers["Location"] == "/login"
        assert (await client.get("/", allow_redirects=False)).status == 303
        # the old cookie, replayed, is refused too
        replay = await client.get("/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"}, allow_redirects=False)
        assert replay.status == 303


async def test_a_link_from_another_site_reloads_from_the_console_to_send_the_strict_cookie(
    store, tokens_file, published
):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        response = await client.get("/alerts/abc123", headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False)
        assert response.status == 200
        assert 'http-equiv="refresh" content="0;url=/alerts/abc123"' in await response.text()


async def test_a_viewer_reads_but_cannot_act(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        await sign_in(client, VIEWER_TOKEN)
        page = await client.get("/alerts/abc123")
        text = await page.text()
        assert page.status == 200 and "view-only" in text and 'value="acknowledge"' not in text
        csrf = await page_csrf(client, "/")
        refused = await client.post("/alerts/abc123/actions", data={"action": "acknowledge", "csrf": csrf})
        assert refused.status == 403
        assert store.alert("abc123").status == "open" and store.alert("abc123").actions == []
        assert published == []


@pytest.mark.parametrize("csrf", [None, "", "0" * 64, "wrong"])
async def test_a_post_without_the_right_csrf_token_is_refused(store, tokens_file, published, csrf):
    settings = Settings(console_tokens_file=tokens_file)
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        await sign_in(client, REVIEWER_TOKEN)
        data = {"action": "acknowledge"} | ({} if csrf is None else {"csrf": csrf})
        refused = await client.post("/alerts/abc123/actions", data=data)
        assert refused.status == 403
        assert store.alert("abc123").actions == [] and published == []
        # the token of the page works
        good = await client.post(
            "/alerts/abc123/actions", data={"action": "acknowledge", "csrf": await page_csrf(client)}
        )
        assert good.status == 200 and store.alert("abc123").status == "acknowledged"


async def test_another_sessions_csrf_token_is_refused(store, tokens_file, published):
    settings = Settings(console_tokens_file=tokens_file, console_session_secret=SECRET)
    app = make_app(store, settings, published)
    async with TestClient(TestServer(app)) as first, TestClient(TestServer(make_app(store, settings, []))) as second:
        await sign_in(first, REVIEWER_TOKEN)
        await sign_in(second, REVIEWER_TOKEN)
        stolen = await page_csrf(second)
        refused = await first.post("/alerts/abc123/actions", data={"action": "acknowledge", "csrf": stolen})
        assert refused.status == 403


async def test_proxy_mode_trusts_the_headers(store, published):
    settings = Settings(console_auth="proxy", console_proxy_user_header="X-User", console_proxy_role_header="X-Role")
    reviewer = {"X-User": "pat", "X-Role": "reviewer"}
    async with TestClient(TestServer(make_app(store, settings, published))) as client:
        assert (await client.get("/", allow_redirects=False)).status == 401
        assert (await client.get("/", headers={"X-Forwarded-User": "pat"})).status == 401  # the configured header only
        viewer = await client.get("/alerts/abc123", headers={"X-User": "vic", "X-Role": "superuser"})
        assert viewer.status == 200 and "view-only" in await viewer.text()
        csrf = await page_csrf(client, headers=reviewer)
        refused = await client.post(
            "/alerts/abc123/actions",
            data={"action": "acknowledge", "csrf": csrf},
            headers={"X-User": "pat", "X-Role": "viewer"},
        )
        assert refused.status == 403  # a viewer's request (and the token is bound to role and user)
        done = await client.post(
            "/alerts/abc123/actions",
            data={"action": "acknowledge", "csrf": csrf},
            headers=reviewer,
            allow_redirects=False,
        )
        assert done.status == 303
        view = store.alert("abc123")
        assert view.status == "acknowledged" and view.actions[-1].actor == "pat"
        assert published[-1].actor == "pat"
