"""Keyless mode's guard: without API keys, only programs on this machine may drive the router.

A loopback-only server is still reachable from every web page the developer opens: a page can
POST to ``http://127.0.0.1:8787`` (a "simple" cross-site request needs no CORS preflight), and a
page on a rebound DNS name reads the answers as same-origin. So a keyless request must also:

- come straight from a loopback address: no ``Forwarded``/``X-Forwarded-For``/``X-Real-IP``
  header, which only a proxy (or a forger) sends;
- name this server in ``Host``: a loopback name or the address it is bound to (DNS rebinding
  sends the attacker's name);
- carry no foreign ``Origin`` and no cross-site ``Sec-Fetch-Site`` (what browsers add);
- send its body as ``application/json``, which no cross-site form or simple fetch can.
"""

from __future__ import annotations

from starlette.requests import Request

from copass_router.serving._auth import is_loopback

PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host")
_SAME_SITE = frozenset({"same-origin", "none"})


class KeylessRefusal(Exception):
    """Why a keyless request is refused: ``status`` and a message for the caller."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def check_keyless(request: Request) -> None:
    """Raise :class:`KeylessRefusal` unless ``request`` may use a keyless router."""
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise KeylessRefusal(
            403,
            "forbidden",
            "this router has no API keys configured and answers loopback clients only; "
            "set COPASS_ROUTER_API_KEYS",
        )
    headers = request.headers
    if any(name in headers for name in PROXY_HEADERS):
        raise KeylessRefusal(
            403,
            "forbidden",
            "a router without API keys answers direct loopback clients only, not requests "
            "through a proxy; set COPASS_ROUTER_API_KEYS",
        )
    host = headers.get("host", "")
    if not _is_own_host(host, request):
        raise KeylessRefusal(
            403, "forbidden", "the Host header must name this machine (localhost or 127.0.0.1)"
        )
    origin = headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        raise KeylessRefusal(
            403, "forbidden", "a router without API keys refuses requests from web pages"
        )
    if headers.get("sec-fetch-site", "none") not in _SAME_SITE:
        raise KeylessRefusal(
            403, "forbidden", "a router without API keys refuses requests from web pages"
        )
    if request.method in ("POST", "PUT", "PATCH"):
        media = headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            raise KeylessRefusal(
                415, "unsupported_media_type", "send the request body as application/json"
            )


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    name, sep, port = host.rpartition(":")
    return name if sep and port.isdigit() else host


def _is_own_host(host: str, request: Request) -> bool:
    name = _host_name(host.strip()).lower()
    if not name:
        return False
    if name == "localhost" or is_loopback(name):
        return True
    server = request.scope.get("server")
    return server is not None and name == str(server[0]).lower()
