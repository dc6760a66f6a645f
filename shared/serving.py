"""How Mailgate's HTTP listeners (the console, the public ingress) run on waitress.

Waitress drops `X-Forwarded-*` headers from any peer it was not told to
trust, so behind a reverse proxy every client looked like the proxy (login
limits, logs, the audit trail). `MAILGATE_TRUSTED_PROXIES=N` declares that
clients reach the listener only through N proxies: waitress then takes the
client's address from the N-th `X-Forwarded-For` entry from the right (the
one the nearest trusted proxy added) and the scheme from
`X-Forwarded-Proto`. With 0, those headers are removed before the
application sees them, so no client can choose the address it is known by.
"""

from __future__ import annotations

from typing import Any, Callable

# X-Forwarded-Host stays untrusted: links are built from MAILGATE_BASE_URL / MAILGATE_CONSOLE_URL, never from a header.
TRUSTED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto"})


def proxy_options(trusted_proxies: int) -> dict[str, Any]:
    """waitress keyword arguments for a listener behind `trusted_proxies` reverse proxies."""
    if trusted_proxies <= 0:
        return {"clear_untrusted_proxy_headers": True}
    # The peer is not checked against an address: the setting says every client comes through the
    # proxies, so the listener must not be reachable around them (the console listens on loopback).
    return {
        "trusted_proxy": "*",
        "trusted_proxy_count": trusted_proxies,
        "trusted_proxy_headers": set(TRUSTED_HEADERS),
        "clear_untrusted_proxy_headers": True,
    }


def create_server(app: Callable, *, host: str, port: int, threads: int, trusted_proxies: int,
                  ident: str = "mailgate") -> Any:
    """A waitress server for `app`, wired for the proxies in front of it (`.run()` serves; `.close()` stops)."""
    from waitress import create_server as _create

    return _create(app, host=host, port=port, threads=threads, ident=ident, **proxy_options(trusted_proxies))


def serve(app: Callable, *, host: str, port: int, threads: int, trusted_proxies: int, ident: str = "mailgate") -> None:
    """Serve `app` until interrupted, as `mailgate web` does (and `mailgate ingress` can)."""
    from waitress import serve as _serve

    _serve(app, host=host, port=port, threads=threads, ident=ident, **proxy_options(trusted_proxies))
