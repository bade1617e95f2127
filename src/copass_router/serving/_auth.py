"""API keys for the hosted router: who is calling, and which end users they may speak for.

Keys come from the operator (``COPASS_ROUTER_API_KEYS``, comma-separated). Only their SHA-256
digests are kept, and a presented key is compared against every digest in constant time, so
neither the keys nor their prefixes leak through memory dumps or timing.

Each key is a tenant. Inside the router an end user id is namespaced by the key's id
(``<key id>:<end user id>``), so two keys naming the same end user never share a session. An
entry may carry a label (``label:key``); the label is the key's id, which lets an operator rotate
a key without orphaning its tenant's sessions. Without a label the id is derived from the digest.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping

import attrs

from copass_router._errors import ConfigurationError

KEYS_ENV = "COPASS_ROUTER_API_KEYS"
MIN_KEY_CHARS = 16
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@attrs.frozen
class Principal:
    """The caller of one request. ``key_id`` is None when the server runs without keys."""

    key_id: str | None

    def scope(self, end_user_id: str) -> str:
        """The end user id as the router stores it for this caller."""
        return end_user_id if self.key_id is None else f"{self.key_id}:{end_user_id}"

    def unscope(self, stored: str) -> str:
        """The end user id as this caller named it."""
        prefix = "" if self.key_id is None else f"{self.key_id}:"
        return stored.removeprefix(prefix)


@attrs.frozen
class ApiKeys:
    """The configured keys, held as ``(key id, digest)`` pairs. Empty means no authentication."""

    entries: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def parse(cls, keys: Iterable[str]) -> ApiKeys:
        """Keys as the operator writes them: ``key`` or ``label:key``."""
        entries: list[tuple[str, bytes]] = []
        for raw in keys:
            entry = raw.strip()
            if not entry:
                continue
            label, sep, key = entry.partition(":")
            if not sep or not _LABEL.match(label):
                label, key = "", entry
            if len(key) < MIN_KEY_CHARS:
                raise ConfigurationError(
                    f"an API key in {KEYS_ENV} is shorter than {MIN_KEY_CHARS} characters; "
                    "generate one with: "
                    "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
                )
            digest = _digest(key)
            entries.append((label or f"key-{digest.hex()[:8]}", digest))
        return cls(tuple(entries))

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ApiKeys:
        """The keys in ``COPASS_ROUTER_API_KEYS`` (comma-separated)."""
        return cls.parse(environ.get(KEYS_ENV, "").split(","))

    @property
    def enabled(self) -> bool:
        """Whether requests must present a key."""
        return bool(self.entries)

    def identify(self, key: str) -> str | None:
        """The id of ``key`` if it is configured, else None (every digest is compared)."""
        presented = _digest(key)
        found: str | None = None
        for key_id, digest in self.entries:
            # No early exit: the time taken does not depend on which entry matched.
            if hmac.compare_digest(presented, digest):
                found = key_id
        return found


def bearer_token(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return credential.strip()


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
