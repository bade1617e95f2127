"""Who may use the operator console, and how every page and action is protected.

The console is off unless the operator sets an admin key (``COPASS_ROUTER_ADMIN_KEY``); the
tenants' API keys never open it. Signing in with the admin key sets a session cookie
(HttpOnly, SameSite=Strict, scoped to ``/console``) that is signed with a secret derived from
the admin key, so every worker accepts it and rotating the key signs everyone out. Every action
(a POST) needs the session's CSRF token in its form and a same-origin request (``Origin`` and
``Sec-Fetch-Site`` when the browser sends them); every page carries a content security policy
that allows only the console's own script and style.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

import attrs
from starlette.requests import Request
from starlette.responses import Response

from copass_router._errors import ConfigurationError
from copass_router.serving._auth import ApiKeys

ADMIN_KEY_ENV = "COPASS_ROUTER_ADMIN_KEY"
MIN_ADMIN_KEY_CHARS = 24
SESSION_COOKIE = "copass_console"
LOGIN_COOKIE = "copass_console_login"
COOKIE_PATH = "/console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes form posts say Origin: null
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_SAME_SITE = frozenset({"same-origin", "none"})


def admin_key_from(environ: Mapping[str, str], keys: ApiKeys, given: str | None) -> str | None:
    """The admin key to use (``given``, else ``COPASS_ROUTER_ADMIN_KEY``); None: console off.

    Raises :class:`ConfigurationError` for a short key, or one that is also a tenant's API key.
    """
    key = (given if given is not None else environ.get(ADMIN_KEY_ENV, "")).strip()
    if not key:
        return None
    if len(key) < MIN_ADMIN_KEY_CHARS:
        raise ConfigurationError(
            f"{ADMIN_KEY_ENV} is shorter than {MIN_ADMIN_KEY_CHARS} characters; generate one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if keys.identify(key) is not None:
        raise ConfigurationError(
            f"{ADMIN_KEY_ENV} is also one of the tenants' API keys (COPASS_ROUTER_API_KEYS); "
            "give the console a key of its own"
        )
    return key


@attrs.frozen
class ConsoleSession:
    """A signed-in operator: the session's nonce names its CSRF token."""

    nonce: str
    expires: int


class ConsoleAccess:
    """Checks the admin key, issues and verifies session cookies and CSRF tokens."""

    def __init__(self, admin_key: str) -> None:
        self._digest = hashlib.sha256(admin_key.encode()).digest()
        self._secret = hashlib.sha256(b"copass-router console\0" + admin_key.encode()).digest()

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._secret, f"{purpose}\0{value}".encode(), "sha256").hexdigest()

    def is_admin_key(self, presented: str) -> bool:
        """Whether ``presented`` is the admin key (compared in constant time)."""
        return hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._digest)

    def new_session(self, now: float | None = None) -> tuple[ConsoleSession, str]:
        """A fresh session and its cookie value."""
        expires = int((now or time.time()) + SESSION_SECONDS)
        nonce = secrets.token_urlsafe(18)
        value = f"{expires}.{nonce}"
        return ConsoleSession(nonce, expires), f"{value}.{self._sign('session', value)}"

    def session(self, request: Request) -> ConsoleSession | None:
        """The request's signed-in session, or None."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        expires, _, rest = raw.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expires.isdigit() and nonce and signature):
            return None
        expected = self._sign("session", f"{expires}.{nonce}")
        if not hmac.compare_digest(signature, expected) or int(expires) < time.time():
            return None
        return ConsoleSession(nonce, int(expires))

    def csrf_token(self, session: ConsoleSession) -> str:
        """The token every form of this session carries."""
        return self._sign("csrf", session.nonce)

    def login_token(self, nonce: str) -> str:
        """The token of the sign-in form (tied to the pre-login cookie's nonce)."""
        return self._sign("login", nonce)

    def check_action(self, request: Request, token: str | None, expected: str) -> str | None:
        """Why an action is refused (cross-origin, bad CSRF token), or None if it may run."""
        refusal = cross_origin(request)
        if refusal is not None:
            return refusal
        if not token or not hmac.compare_digest(token, expected):
            return "the form's CSRF token is missing or stale; reload the page and try again"
        return None


def cross_origin(request: Request) -> str | None:
    """Why a request looks cross-origin (None: same origin, or a client that is no browser)."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin is not None and origin != own:
        return "the console refuses requests from other origins"
    if request.headers.get("sec-fetch-site", "none") not in _SAME_SITE:
        return "the console refuses requests from other sites"
    return None


def secured(response: Response) -> Response:
    """``response`` with the console's security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def set_cookie(response: Response, request: Request, name: str, value: str, seconds: int) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, ``/console`` only, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
