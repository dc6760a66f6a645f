"""Small helpers the views share: who is acting, refusing an action, 404 for a missing row, row ids from URLs."""

from __future__ import annotations

from flask import abort, flash, request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from mailgate.shared.queries import MAX_ID, as_id

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


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id, 1..MAX_ID; any other number is a 404 like a missing row
    (handed to the database, a number beyond its integers is an error, not a miss)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 -- werkzeug's name
        super().__init__(map, min=1, max=MAX_ID)


def before_arg() -> int | None:
    """The keyset pager's `before=` id; anything that could not be an id means the first page."""
    return as_id(request.args.get("before"))
