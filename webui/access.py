"""Who may see what: every page needs a logged-in admin, checked in one place.

A global `before_request` guard (rather than remembering a decorator on each
view) means a new blueprint cannot forget it; `public` marks the few
endpoints that must stay open (the login form and static files).
"""

from __future__ import annotations

from typing import Callable

from flask import Flask, request
from flask_login import current_user

from mailgate.webui.extensions import login_manager

PUBLIC_ENDPOINTS: set[str] = {"static"}


def public(view: Callable) -> Callable:
    """Mark a view as reachable without login (registered by endpoint name at blueprint setup)."""
    view.mailgate_public = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    @app.before_request
    def _require_login():
        endpoint = request.endpoint
        if endpoint is None:
            return None  # 404s fall through to the not-found page
        view = app.view_functions.get(endpoint)
        if endpoint in PUBLIC_ENDPOINTS or getattr(view, "mailgate_public", False):
            return None
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return None
