"""The client's address behind reverse proxies: Postmark's source check needs the real one.

Waitress itself takes the client's address from `X-Forwarded-For` when
MAILGATE_TRUSTED_PROXIES says how many proxies stand in front (the entry
the nearest one added, counted from the right); with none, it removes the
header before the app sees it, so no request can claim to come from
Postmark's ranges by saying so. The app reads only REMOTE_ADDR.
"""

from __future__ import annotations

from typing import Any

TRUSTED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto"})


def waitress_options(trusted_proxies: int) -> dict[str, Any]:
    """waitress keyword arguments for a listener behind `trusted_proxies` reverse proxies."""
    if trusted_proxies <= 0:
        return {"clear_untrusted_proxy_headers": True}
    return {"trusted_proxy": "*", "trusted_proxy_count": trusted_proxies,
            "trusted_proxy_headers": set(TRUSTED_HEADERS), "clear_untrusted_proxy_headers": True}
