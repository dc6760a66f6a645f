"""Tasks of the built-in application: the list, each task with its comments and external participants, and a
team member's comment (the same path as a reply by mail: shared.commenting)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from werkzeug.utils import secure_filename

from mailgate.shared import audit, durability, queries
from mailgate.shared.commenting import CommentError, comment_as
from mailgate.shared.models import AppUser, Attachment, ReceivedMessage
from mailgate.webui import settings
from mailgate.webui.database import pipeline_db, release
from mailgate.webui.extensions import db
from mailgate.shared.queries import as_id
from mailgate.webui.forms import CommentForm
from mailgate.webui.helpers import actor, before_arg, refuse

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


COMMENTS_PER_PAGE = 100  # a task with tens of thousands of comments is still a page of a few hundred KB


def _authors() -> list[tuple[str, str]]:
    users = db.session.scalars(select(AppUser).where(AppUser.enabled.is_(True)).order_by(AppUser.builtin,
                                                                                         AppUser.username))
    return [(u.username, f"{u.username} ({u.name})" if u.name and u.name != u.username else u.username)
            for u in users]


def _comment_form() -> CommentForm:
    form = CommentForm()
    form.author.choices = _authors()
    return form


@bp.route("/<ref>/comments", methods=["POST"])
def comment(ref: str):
    task = queries.get_task(db.session, ref)
    if task is None:
        abort(404)
    form = _comment_form()
    if not form.validate_on_submit():
        return detail(ref, form, 400)
    ref = task.ref
    release()  # the comment is written in a transaction of its own (durability.transaction)
    try:
        with durability.transaction(pipeline_db()) as conn:
            _, done = comment_as(conn, settings(), ref=ref, username=form.author.data,
                                 text=form.text.data or "", internal=bool(form.internal.data))
    except CommentError as exc:
        refuse(f"Not added: {exc}")
        form.text.errors = [str(exc)]
        return detail(ref, form, 400)
    audit.record(db.session, actor(), "task.comment", task.ref, author=form.author.data, internal=done.internal,
                 comment=done.comment_id)
    flash(f"{task.ref}: comment added as {form.author.data}"
          + (" (internal)." if done.internal else
             f"; mailed to {done.participants_notified} external participant(s)." if done.participants_notified
             else "."), "info")
    return redirect(url_for("tasks.detail", ref=task.ref, last=1))


@bp.route("/<ref>")
def detail(ref: str, form: CommentForm | None = None, status: int = 200):
    task = queries.get_task(db.session, ref)
    if task is None:
        abort(404)
    data = queries.task_json(db.session, task, with_comments=False)
    page = queries.comment_page(db.session, task, after=as_id(request.args.get("after")),
                                before=as_id(request.args.get("before")), last=request.args.get("last") == "1",
                                size=COMMENTS_PER_PAGE)
    # The mail that opened the task (each comment links its own).
    sources = dict(db.session.execute(
        select(ReceivedMessage.id, ReceivedMessage.subject)
        .where(ReceivedMessage.task_id == task.id, ReceivedMessage.action == "create")
        .order_by(ReceivedMessage.id).limit(5)).all())
    here = {"ref": task.ref}
    links = {
        "first": url_for("tasks.detail", **here) if page.earlier else None,
        "earlier": url_for("tasks.detail", **here, before=page.comments[0]["id"]) if page.earlier and page.comments
        else None,
        "later": url_for("tasks.detail", **here, after=page.comments[-1]["id"]) if page.later else None,
        "last": url_for("tasks.detail", **here, last=1) if page.later else None,
    }
    return render_template("tasks/detail.html", task=task, data=data, sources=sources, page=page, links=links,
                           form=form or _comment_form()), status


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
