"""Who is using the console, and what they may do.

Two modes (``console_auth``):

* ``token``: reviewers sign in at ``/login`` with a token from ``console_tokens_file`` (YAML,
  ``token: {user: NAME, role: viewer|reviewer}``). A signed session cookie (HMAC-SHA256, HttpOnly,
  SameSite=Strict) carries the session id, the user, a fingerprint of the token and the expiry;
  the user's role is read from the tokens file at every request, so a token removed from the file
  (and a restart) ends its sessions.
* ``proxy``: a trusted reverse proxy authenticates and sets the user and role headers
  (``console_proxy_user_header``, ``console_proxy_role_header``). The console must then be
  reachable only through that proxy. A missing user header is refused (401); a role other than
  ``reviewer`` reads as ``viewer``.

Every POST carries a CSRF token derived from the session (HMAC of the session id); viewers may
read, only reviewers may act. Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from streams.errors import ConfigError
from streams.settings import Settings

Role = Literal["viewer", "reviewer"]
ROLES: tuple[Role, ...] = ("viewer", "reviewer")
SESSION_COOKIE = "turnwatch_session"
LOGIN_COOKIE = "turnwatch_login"
SESSION_SECONDS = 12 * 3600  # one on-call shift
LOGIN_FORM_SECONDS = 3600
MIN_TOKEN_LENGTH = 16
MAX_COOKIE_CHARS = 4096
MAX_USER_CHARS = 200
_TOKENS_KEY = "console_tokens_file"


@dataclass(frozen=True)
class Identity:
    """An authenticated user of the console."""

    user: str
    role: Role
    session_id: str
    expires: float | None = None  # Unix time; None for proxy identities (the proxy decides)

    @property
    def can_act(self) -> bool:
        return self.role == "reviewer"


@dataclass(frozen=True)
class _TokenEntry:
    digest: bytes  # sha256 of the token
    fingerprint: str
    user: str
    role: Role


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_tokens(path: Path | str) -> dict[str, tuple[str, Role]]:
    """token -> (user, role) from the tokens file; ConfigError naming console_tokens_file otherwise.

    Messages name the entry by position and user, never by its token.
    """
    where = f"{_TOKENS_KEY} ({path})"
    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid YAML ({type(exc).__name__})") from None
    if not isinstance(loaded, dict) or not loaded:
        raise ConfigError(f"{where}: expected a non-empty mapping of token -> {{user, role}}")
    tokens: dict[str, tuple[str, Role]] = {}
    for position, (token, entry) in enumerate(loaded.items(), start=1):
        label = f"{where}: entry {position}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{label}: expected a mapping with user and role")
        user = entry.get("user")
        if not isinstance(user, str) or not user.strip() or len(user) > MAX_USER_CHARS:
            raise ConfigError(f"{label}: user must be a non-empty string (at most {MAX_USER_CHARS} characters)")
        label = f"{label} (user {user!r})"
        unknown = sorted(str(k) for k in entry if k not in ("user", "role"))
        if unknown:
            raise ConfigError(f"{label}: unknown keys {', '.join(unknown)} (expected user, role)")
        role = entry.get("role")
        if role not in ROLES:
            raise ConfigError(f"{label}: role must be viewer or reviewer, got {role!r}")
        if not isinstance(token, str):
            raise ConfigError(f"{label}: the token must be a string (quote it in the YAML)")
        if len(token.strip()) < MIN_TOKEN_LENGTH or token != token.strip():
            raise ConfigError(
                f"{label}: the token must be at least {MIN_TOKEN_LENGTH} characters without surrounding spaces "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')"
            )
        tokens[token] = (user.strip(), role)
    return tokens


class Authenticator:
    """Signs and reads sessions, checks tokens, derives CSRF tokens; one per console app."""

    def __init__(
        self,
        mode: Literal["token", "proxy"],
        secret: bytes,
        tokens: dict[str, tuple[str, Role]] | None = None,
        user_header: str = "X-Forwarded-User",
        role_header: str = "X-Forwarded-Role",
        session_seconds: int = SESSION_SECONDS,
        secure_cookies: bool = False,
    ) -> None:
        if mode not in ("token", "proxy"):
            raise ConfigError(f"console_auth: unknown mode {mode!r} (token or proxy)")
        if mode == "token" and not tokens:
            raise ConfigError(f"{_TOKENS_KEY}: required (and non-empty) when console_auth is token")
        self.mode = mode
        self._session_key = hmac.new(secret, b"turnwatch.console.session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"turnwatch.console.csrf", hashlib.sha256).digest()
        self._token_key = hmac.new(secret, b"turnwatch.console.token", hashlib.sha256).digest()
        self._entries = [self._entry(token, user, role) for token, (user, role) in (tokens or {}).items()]
        self._by_fingerprint = {e.fingerprint: e for e in self._entries}
        self.user_header = user_header
        self.role_header = role_header
        self.session_seconds = session_seconds
        self.secure_cookies = secure_cookies
        self._revoked: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Authenticator:
        secret = (
            settings.console_session_secret.get_secret_value().encode()
            if settings.console_session_secret is not None
            else secrets.token_bytes(32)
        )
        tokens = None
        if settings.console_auth == "token":
            if settings.console_tokens_file is None:
                raise ConfigError(f"{_TOKENS_KEY}: required when console_auth is token (or set console_auth: proxy)")
            tokens = load_tokens(settings.console_tokens_file)
        return cls(
            settings.console_auth,
            secret,
            tokens,
            user_header=settings.console_proxy_user_header,
            role_header=settings.console_proxy_role_header,
            secure_cookies=(settings.console_url or "").lower().startswith("https://"),
        )

    def _entry(self, token: str, user: str, role: Role) -> _TokenEntry:
        fingerprint = hmac.new(self._token_key, token.encode(), hashlib.sha256).hexdigest()[:32]
        return _TokenEntry(hashlib.sha256(token.encode()).digest(), fingerprint, user, role)

    # --- token mode -------------------------------------------------------------------------

    def check_token(self, token: str) -> _TokenEntry | None:
        """The entry whose token this is; every entry is compared, in constant time."""
        given = hashlib.sha256(token.encode("utf-8", errors="replace")).digest()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(given, entry.digest):
                found = entry
        return found

    def login(self, token: str, now: float | None = None) -> tuple[Identity, str] | None:
        """(identity, cookie value) for a good token, None otherwise."""
        if self.mode != "token":
            return None
        entry = self.check_token(token)
        if entry is None:
            return None
        now = time.time() if now is None else now
        identity = Identity(entry.user, entry.role, secrets.token_urlsafe(18), now + self.session_seconds)
        return identity, self._sign({"sid": identity.session_id, "t": entry.fingerprint, "exp": identity.expires})

    def _sign(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        mac = _b64(hmac.new(self._session_key, body.encode(), hashlib.sha256).digest())
        return f"{body}.{mac}"

    def _verify(self, value: str) -> dict[str, Any] | None:
        if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        expected = _b64(hmac.new(self._session_key, body.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    def read_session(self, cookie: str | None, now: float | None = None) -> Identity | None:
        """The identity a session cookie carries, if it is genuine, unexpired, unrevoked and its token still valid."""
        if self.mode != "token" or not cookie:
            return None
        payload = self._verify(cookie)
        if payload is None:
            return None
        sid, fingerprint, expires = payload.get("sid"), payload.get("t"), payload.get("exp")
        if not isinstance(sid, str) or not isinstance(fingerprint, str) or not isinstance(expires, (int, float)):
            return None
        now = time.time() if now is None else now
        if expires <= now:
            return None
        with self._lock:
            if sid in self._revoked:
                return None
        entry = self._by_fingerprint.get(fingerprint)
        if entry is None:
            return None
        return Identity(entry.user, entry.role, sid, float(expires))

    def revoke(self, identity: Identity, now: float | None = None) -> None:
        """Sign out: the session's cookie is refused from now on (until it would have expired anyway)."""
        now = time.time() if now is None else now
        with self._lock:
            self._revoked = {sid: exp for sid, exp in self._revoked.items() if exp > now}
            self._revoked[identity.session_id] = identity.expires or now + self.session_seconds

    # --- proxy mode -------------------------------------------------------------------------

    def from_headers(self, headers: Any) -> Identity | None:
        """The identity the trusted proxy asserts; None when the user header is missing."""
        if self.mode != "proxy":
            return None
        user = (headers.get(self.user_header) or "").strip()
        if not user or len(user) > MAX_USER_CHARS:
            return None
        role: Role = "reviewer" if (headers.get(self.role_header) or "").strip().lower() == "reviewer" else "viewer"
        # CSRF tokens in proxy mode are bound to the user and role the proxy asserts.
        session_id = "proxy:" + hmac.new(self._session_key, f"{user}\n{role}".encode(), hashlib.sha256).hexdigest()
        return Identity(user, role, session_id)

    # --- CSRF -------------------------------------------------------------------------------

    def csrf_token(self, identity: Identity) -> str:
        return hmac.new(self._csrf_key, identity.session_id.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, identity: Identity, given: str | None) -> bool:
        if not given:
            return False
        return hmac.compare_digest(given.encode("utf-8", errors="replace"), self.csrf_token(identity).encode())

    # The sign-in form has no session yet: a random nonce in a short-lived cookie, its HMAC in the form.

    def login_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    def login_csrf(self, nonce: str) -> str:
        return hmac.new(self._csrf_key, b"login:" + nonce.encode(), hashlib.sha256).hexdigest()

    def check_login_csrf(self, nonce: str | None, given: str | None) -> bool:
        if not nonce or not given or len(nonce) > 100:
            return False
        return hmac.compare_digest(given.encode("utf-8", errors="replace"), self.login_csrf(nonce).encode())
