"""Run-scoped dispatch tokens: what a deployed agent presents when it calls a router tool.

A token names one run, its session and end user, the tools it may call, an expiry and the
worker running the run, signed with HMAC-SHA256 under one of the router's signing keys, whose
id it carries (``kid``) so keys can be rotated: a new key signs, the old one still verifies
until its tokens have expired. It is never an API key, and it is useless once its run has
ended.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable

import attrs

from copass_router._errors import DispatchAuthError
from copass_router.coordination._keys import SigningKeys

PREFIX = "cpt1."


@attrs.frozen
class DispatchClaims:
    """What a verified token says."""

    run_id: str
    session_id: str
    end_user_id: str
    tools: frozenset[str]
    expires_at: float
    #: The worker running the run (dispatch callbacks landing elsewhere are forwarded there).
    worker: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def _keys(secret: bytes | SigningKeys) -> SigningKeys:
    return secret if isinstance(secret, SigningKeys) else SigningKeys.single(secret)


def mint_token(
    secret: bytes | SigningKeys,
    *,
    run_id: str,
    session_id: str,
    end_user_id: str,
    tools: Iterable[str],
    ttl: float,
    worker: str | None = None,
) -> str:
    """A token for one run, valid for ``ttl`` seconds, signed with the current key."""
    kid, key = _keys(secret).signing()
    claims: dict[str, object] = {
        "kid": kid,
        "run": run_id,
        "ses": session_id,
        "usr": end_user_id,
        "tools": sorted(tools),
        "exp": round(time.time() + ttl, 3),
    }
    if worker is not None:
        claims["wrk"] = worker
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{PREFIX}{body}.{_sign(key, body)}"


def token_key_id(token: str) -> str | None:
    """The id of the key a well-formed token says it was signed with (unverified)."""
    try:
        return str(_unsigned_claims(token)["kid"])
    except (DispatchAuthError, KeyError, TypeError):
        return None


def _unsigned_claims(token: str) -> dict[str, object]:
    if not isinstance(token, str) or not token.startswith(PREFIX) or token.count(".") != 2:
        raise DispatchAuthError("malformed dispatch token")
    body = token[len(PREFIX) :].split(".")[0]
    try:
        raw = json.loads(_unb64(body.encode("ascii").decode()))
    except (ValueError, UnicodeEncodeError, RecursionError):  # binascii.Error: a ValueError
        raise DispatchAuthError("malformed dispatch token") from None
    if not isinstance(raw, dict):
        raise DispatchAuthError("malformed dispatch token")
    return raw


def verify_token(
    secret: bytes | SigningKeys, token: str, *, now: float | None = None
) -> DispatchClaims:
    """The token's claims, or :class:`DispatchAuthError` if it is malformed, forged, expired or
    signed with a key that is unknown or retired."""
    raw = _unsigned_claims(token)
    body, signature = token[len(PREFIX) :].split(".")
    try:  # a token is ASCII; anything else (a lone surrogate included) is not one of ours
        given = signature.encode("ascii")
    except UnicodeEncodeError:
        raise DispatchAuthError("malformed dispatch token") from None
    key = _keys(secret).verifying(str(raw.get("kid", "0")), now)
    if key is None:
        raise DispatchAuthError("dispatch token signature is invalid: unknown or retired key")
    if not hmac.compare_digest(given, _sign(key, body).encode()):
        raise DispatchAuthError("dispatch token signature is invalid")
    try:
        claims = DispatchClaims(
            str(raw["run"]),
            str(raw["ses"]),
            str(raw["usr"]),
            frozenset(map(str, raw["tools"])),  # type: ignore[call-overload]
            float(raw["exp"]),  # type: ignore[arg-type]
            str(raw["wrk"]) if "wrk" in raw else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise DispatchAuthError("malformed dispatch token") from exc
    if claims.expires_at < (time.time() if now is None else now):
        raise DispatchAuthError("dispatch token has expired")
    return claims
