"""Tasks of the built-in application, read-only: the list and each task with its comments."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from sqlalchemy import select

from werkzeug.utils import secure_filename

from mailgate.shared import queries
from mailgate.shared.models import Attachment, ReceivedMessage
from mailgate.webui.extensions import db
from mailgate.webui.helpers import before_arg

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.route("/")
def index():
    status = request.args.get("status") if request.args.get("status") in ("open", "closed") else None
    before = before_arg()
    size = current_app.config["MAILGATE_PAGE_SIZE"]
    tasks = queries.list_tasks(db.session, status=status, limit=size + 1, before_id=before)
    next_url = url_for("tasks.index", status=status, before=tasks[size - 1].id) if len(tasks) > size else None
    first_url = url_for("tasks.index", status=status) if before else None
    return render_template("tasks/index.html", tasks=tasks[:size], status=status, next_url=next_url,
                           first_url=first_url)


@bp.route("/<ref>")
def detail(ref: str):
    task = queries.get_task(db.session, ref)
    if task is None:
        abort(404)
    data = queries.task_json(db.session, task)
    sources = dict(db.session.execute(
        select(ReceivedMessage.id, ReceivedMessage.subject).where(ReceivedMessage.task_id == task.id)).all())
    return render_template("tasks/detail.html", task=task, data=data, sources=sources)


@bp.route("/attachments/<id:att_id>")
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
