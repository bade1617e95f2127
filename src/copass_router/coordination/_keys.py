"""Dispatch-token signing keys: one signs, every key not yet retired verifies."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

import attrs

from copass_router._errors import ConfigurationError


@attrs.frozen
class SigningKeys:
    """Keys by id: ``current`` signs new tokens; any key in ``keys`` whose ``retire_at`` (epoch
    seconds, absent: never) has not passed verifies."""

    current: str
    keys: Mapping[str, bytes]
    retire_at: Mapping[str, float] = attrs.field(factory=dict)

    @classmethod
    def generate(cls) -> SigningKeys:
        """One fresh random key."""
        kid = new_key_id()
        return cls(kid, {kid: secrets.token_bytes(32)})

    @classmethod
    def single(cls, secret: bytes) -> SigningKeys:
        """One configured secret (``COPASS_ROUTER_DISPATCH_SECRET``), key id ``0``."""
        return cls("0", {"0": secret})

    @classmethod
    def configured(
        cls, secret: bytes | str | None, environ: Mapping[str, str]
    ) -> SigningKeys | None:
        """Keys from configuration: ``secret`` (a router's ``dispatch_secret``),
        ``COPASS_ROUTER_DISPATCH_SECRET`` or ``COPASS_ROUTER_DISPATCH_KEYS``; None without any
        (the coordinator's keys sign)."""
        secret = secret or environ.get("COPASS_ROUTER_DISPATCH_SECRET")
        if secret:
            return cls.single(secret.encode() if isinstance(secret, str) else secret)
        keys = environ.get("COPASS_ROUTER_DISPATCH_KEYS")
        return cls.parse(keys) if keys else None

    @classmethod
    def parse(cls, text: str) -> SigningKeys:
        """``COPASS_ROUTER_DISPATCH_KEYS``: ``id:secret,id:secret``; the first signs."""
        pairs = [p.strip() for p in text.split(",") if p.strip()]
        keys: dict[str, bytes] = {}
        for pair in pairs:
            kid, sep, secret = pair.partition(":")
            if not sep or not kid or not secret or kid in keys:
                raise ConfigurationError(
                    "COPASS_ROUTER_DISPATCH_KEYS must be id:secret[,id:secret...] with "
                    "distinct ids (the first signs)"
                )
            keys[kid] = secret.encode()
        if not keys:
            raise ConfigurationError("COPASS_ROUTER_DISPATCH_KEYS names no key")
        return cls(next(iter(keys)), keys)

    def signing(self) -> tuple[str, bytes]:
        """The key id and secret new tokens are signed with."""
        return self.current, self.keys[self.current]

    def verifying(self, kid: str, now: float | None = None) -> bytes | None:
        """The secret of key ``kid`` if it still verifies."""
        retire = self.retire_at.get(kid)
        if retire is not None and retire < (time.time() if now is None else now):
            return None
        return self.keys.get(kid)

    def rotated(self, retire_after: float, now: float | None = None) -> SigningKeys:
        """A new current key; the others retire ``retire_after`` seconds from now."""
        now = time.time() if now is None else now
        kid = new_key_id()
        live = {k: v for k, v in self.keys.items() if self.verifying(k, now) is not None}
        retire = {
            k: min(self.retire_at.get(k, now + retire_after), now + retire_after) for k in live
        }
        return SigningKeys(kid, {**live, kid: secrets.token_bytes(32)}, retire)


WRAP_SECRET_ENV = "COPASS_ROUTER_KEY_WRAP_SECRET"


class KeyWrap:
    """How signing keys are kept at rest in Redis: each secret XORed with a pad derived from the
    wrapping secret and the key's (unique, never reused) id, and tagged, so Redis alone holds
    nothing that signs a token. The wrapping secret lives only in the workers' environment
    (``COPASS_ROUTER_KEY_WRAP_SECRET``)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ConfigurationError(
                f"{WRAP_SECRET_ENV} must be at least 16 characters (32 random bytes, hex or "
                "base64, is the advice)"
            )
        self._secret = secret.encode()

    def _mac(self, purpose: bytes, kid: str, data: bytes = b"") -> bytes:
        message = purpose + b"\0" + kid.encode() + b"\0" + data
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def wrap(self, kid: str, secret: bytes) -> str:
        pad = self._pad(kid, len(secret))
        wrapped = bytes(a ^ b for a, b in zip(secret, pad, strict=True))
        return (wrapped + self._mac(b"tag", kid, wrapped)).hex()

    def unwrap(self, kid: str, text: str) -> bytes:
        blob = bytes.fromhex(text)
        wrapped, tag = blob[:-32], blob[-32:]
        if not hmac.compare_digest(tag, self._mac(b"tag", kid, wrapped)):
            raise ConfigurationError(
                f"the dispatch signing keys in Redis were wrapped with another {WRAP_SECRET_ENV}:"
                " give every worker the same one"
            )
        return bytes(a ^ b for a, b in zip(wrapped, self._pad(kid, len(wrapped)), strict=True))

    def _pad(self, kid: str, size: int) -> bytes:
        pad = b""
        counter = 0
        while len(pad) < size:
            pad += self._mac(b"pad" + str(counter).encode(), kid)
            counter += 1
        return pad[:size]


def new_key_id() -> str:
    """A short, unique, time-ordered key id."""
    return f"{int(time.time()):x}{secrets.token_hex(3)}"
