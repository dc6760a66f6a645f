"""The admin console: `create_app()` builds a Flask app over the shared models and pipeline.

Configuration comes from the same MAILGATE_* environment as the CLI and the
milter (`mailgate.shared.config.from_env`); `test_config` overrides Flask
keys and may carry `MAILGATE_SETTINGS` (a ready Settings) or `MAILGATE_ENV`
(an environment mapping) so tests never touch os.environ.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from mailgate.shared.config import Settings, from_env
from mailgate.shared.db import engine_options

if TYPE_CHECKING:
    from flask import Flask

# Flask is imported inside the functions: the `mailgate` CLI lives in this package, and a command
# such as the pipe ingress (a process per message) has no use for it.

# Located from this file, not importlib.resources: that fails for editable installs on 3.11.
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    # No inline script anywhere: mail content that slipped through escaping still cannot run.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

# Login limits (mailgate.webui.login_limits; docs/security.md): the wait after a first failure in
# seconds, doubling up to the maximum; the failures in a row that lock an account, and for how long.
LOGIN_LIMITS = {
    "MAILGATE_LOGIN_DELAY": 1.0,
    "MAILGATE_LOGIN_DELAY_MAX": 60.0,
    "MAILGATE_LOGIN_LOCK_AFTER": 10,
    "MAILGATE_LOGIN_LOCK_SECONDS": 900.0,
}


def settings() -> Settings:
    """The Settings of the running app."""
    from flask import current_app

    return current_app.extensions["mailgate.settings"]


def _settings_from(test_config: Mapping[str, Any] | None) -> Settings:
    if test_config and test_config.get("MAILGATE_SETTINGS") is not None:
        return test_config["MAILGATE_SETTINGS"]
    return from_env(test_config.get("MAILGATE_ENV") if test_config else None)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    from flask import Flask, request

    cfg = _settings_from(test_config)
    # instance_path given: Flask cannot guess it for a package mapped into the `mailgate` namespace.
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=str(STATIC),
                instance_path=str(cfg.instance_path.resolve()))
    https = cfg.console_url.startswith("https://")
    app.config.update(
        SECRET_KEY=cfg.secret_key,
        SQLALCHEMY_DATABASE_URI=cfg.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(cfg.database_url),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_NAME="mailgate_session",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
        WTF_CSRF_TIME_LIMIT=None,  # tied to the session instead; a long Test Receiver edit must not fail
        MAX_CONTENT_LENGTH=cfg.max_message_bytes + 1024 * 1024,
        MAILGATE_PAGE_SIZE=50,
        **LOGIN_LIMITS,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if not k.startswith("MAILGATE_") or
                           k in LOGIN_LIMITS or k == "MAILGATE_PAGE_SIZE"})
    app.extensions["mailgate.settings"] = cfg

    from mailgate.webui.helpers import IdConverter

    app.url_map.converters["id"] = IdConverter
    # Behind reverse proxies (MAILGATE_TRUSTED_PROXIES) the server sets the client's address from
    # X-Forwarded-For before the app runs: mailgate.shared.serving, used by `mailgate web`.

    from mailgate.webui import access, auth, database, views
    from mailgate.webui.extensions import csrf, login_manager

    database.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    auth.init_app(app)
    access.init_app(app)
    views.register(app)

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.endpoint != "static":
            # Pages carry mail content, addresses and CSRF tokens: no copy on disk, none shown by Back
            # after logout.
            response.headers["Cache-Control"] = "no-store"
        return response

    logging.getLogger("mailgate.webui").setLevel(logging.INFO)
    return app
