"""Run-scoped dispatch tokens: what a deployed agent presents when it calls a router tool.

A token names one run, its session and end user, the tools it may call and an expiry, signed
with HMAC-SHA256 under the router's dispatch secret. It is never an API key, and it is useless
once its run has ended.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable

import attrs

from .errors import DispatchAuthError

PREFIX = "cpt1."


@attrs.frozen
class DispatchClaims:
    """What a verified token says."""

    run_id: str
    session_id: str
    end_user_id: str
    tools: frozenset[str]
    expires_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def mint_token(
    secret: bytes,
    *,
    run_id: str,
    session_id: str,
    end_user_id: str,
    tools: Iterable[str],
    ttl: float,
) -> str:
    """A signed token for one run, valid for ``ttl`` seconds."""
    claims = {
        "run": run_id,
        "ses": session_id,
        "usr": end_user_id,
        "tools": sorted(tools),
        "exp": round(time.time() + ttl, 3),
    }
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{PREFIX}{body}.{_sign(secret, body)}"


def verify_token(secret: bytes, token: str, *, now: float | None = None) -> DispatchClaims:
    """The token's claims, or :class:`DispatchAuthError` if it is malformed, forged or expired."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or token.count(".") != 2:
        raise DispatchAuthError("malformed dispatch token")
    body, signature = token[len(PREFIX) :].split(".")
    try:  # a token is ASCII; anything else (a lone surrogate included) is not one of ours
        given, raw_body = signature.encode("ascii"), body.encode("ascii")
    except UnicodeEncodeError:
        raise DispatchAuthError("malformed dispatch token") from None
    expected = _sign(secret, raw_body.decode()).encode()
    if not hmac.compare_digest(given, expected):
        raise DispatchAuthError("dispatch token signature is invalid")
    try:
        raw = json.loads(_unb64(body))
        claims = DispatchClaims(
            str(raw["run"]),
            str(raw["ses"]),
            str(raw["usr"]),
            frozenset(map(str, raw["tools"])),
            float(raw["exp"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DispatchAuthError("malformed dispatch token") from exc
    if claims.expires_at < (time.time() if now is None else now):
        raise DispatchAuthError("dispatch token has expired")
    return claims
