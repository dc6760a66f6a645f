"""The audit log: every admin change from the console or the CLI, newest first."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from sqlalchemy import select

from mailgate.shared.models import AuditEntry
from mailgate.webui.extensions import db
from mailgate.webui.helpers import before_arg

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("/")
def index():
    before = before_arg()
    action = (request.args.get("action") or "").strip() or None
    size = current_app.config["MAILGATE_PAGE_SIZE"]
    q = select(AuditEntry)
    if action:
        q = q.where(AuditEntry.action.startswith(action, autoescape=True))
    if before:
        q = q.where(AuditEntry.id < before)
    rows = list(db.session.scalars(q.order_by(AuditEntry.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    next_url = url_for("audit.index", action=action, before=rows[-1].id) if more and rows else None
    return render_template("audit/index.html", rows=rows, action=action or "", next_url=next_url)
