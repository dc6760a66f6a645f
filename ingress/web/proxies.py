"""The client's address behind reverse proxies: Postmark's source check needs the real one.

Only MAILGATE_TRUSTED_PROXIES proxies are believed (their X-Forwarded-For,
counted from the right); with none, the peer address is the client and any
X-Forwarded-For is ignored, so a request cannot claim to come from
Postmark's ranges by saying so.
"""

from __future__ import annotations

from flask import Flask

from mailgate.shared.config import Settings


def wrap(app: Flask, settings: Settings) -> None:
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)
