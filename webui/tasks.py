"""Tasks of the built-in application, read-only: the list and each task with its comments."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select

from werkzeug.utils import secure_filename

from mailgate.shared import queries
from mailgate.shared.models import Attachment, ReceivedMessage
from mailgate.webui.extensions import db

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.route("/")
def index():
    status = request.args.get("status") if request.args.get("status") in ("open", "closed") else None
    return render_template("tasks/index.html", tasks=queries.list_tasks(db.session, status=status, limit=200),
                           status=status)


@bp.route("/<ref>")
def detail(ref: str):
    task = queries.get_task(db.session, ref)
    if task is None:
        abort(404)
    data = queries.task_json(db.session, task)
    sources = dict(db.session.execute(
        select(ReceivedMessage.id, ReceivedMessage.subject).where(ReceivedMessage.task_id == task.id)).all())
    return render_template("tasks/detail.html", task=task, data=data, sources=sources)


@bp.route("/attachments/<int:att_id>")
def attachment(att_id: int):
    from flask import Response

    row = db.session.get(Attachment, att_id)
    if row is None:
        abort(404)
    # Always a download, never rendered: an HTML or SVG attachment must not run in our origin.
    # The name is the sender's: reduced to safe ASCII before it goes into a header.
    name = secure_filename(row.name or "") or f"attachment-{row.id}"
    return Response(row.data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
    })
