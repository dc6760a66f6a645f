"""Small helpers the views share: who is acting, refusing an action, 404 for a missing row."""

from __future__ import annotations

from flask import abort, flash
from flask_login import current_user

from mailgate.webui.database import rollback


def actor() -> str:
    """The audit-log name of the admin behind this request."""
    return f"web:{current_user.username}" if current_user.is_authenticated else "web:anonymous"


def refuse(message: str) -> None:
    """Undo the request's changes and tell the admin why (the edge then commits nothing)."""
    rollback()
    flash(message, "error")


def get_or_404(model, ident):
    from mailgate.webui.extensions import db

    row = db.session.get(model, ident)
    if row is None:
        abort(404)
    return row
