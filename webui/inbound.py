"""The Received log: every message that came in, why it ended as it did, and a retry for failures."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from mailgate.shared import audit, pipeline, queries, retention
from mailgate.shared.models import Application, Attachment, Comment, ReceivedMessage, Task
from mailgate.shared.envelope import SOURCES
from mailgate.shared.message import load_message, raw_headers
from mailgate.shared.outcomes import Reason, Status, TempFail
from mailgate.shared.senderauth.result import VERDICTS, AuthResult, mismatch_sentence
from mailgate.webui import settings
from mailgate.webui.database import pipeline_db, release
from mailgate.webui.extensions import db
from mailgate.webui.forms import ActionForm, ReceivedFilterForm
from mailgate.webui.helpers import actor, before_arg, get_or_404

bp = Blueprint("inbound", __name__, url_prefix="/received")
AUTH_FILTERS = (*VERDICTS, "unchecked")


def _date(value: str | None) -> datetime | None:
    """A filter date, or None (shown as ignored); years at datetime's ends are refused too, as a day
    added or a clock slack taken there would leave its range."""
    try:
        day = datetime.strptime((value or "").strip(), "%Y-%m-%d") if value and value.strip() else None
    except ValueError:
        return None
    return day if day is not None and 1900 <= day.year <= 9998 else None


def _filter_form() -> ReceivedFilterForm:
    form = ReceivedFilterForm(request.args)
    form.status.choices = [("", "any")] + [(s.value, s.value) for s in Status]
    form.reason.choices = [("", "any")] + [(r.value, r.value) for r in Reason]
    apps = db.session.scalars(select(Application.name).order_by(Application.name)).all()
    form.application.choices = [("", "any")] + [(a, a) for a in apps]
    form.source.choices = [("", "any")] + [(s, s) for s in SOURCES]
    form.auth.choices = [("", "any")] + [(v, v) for v in AUTH_FILTERS]
    return form


def filter_from(form: ReceivedFilterForm) -> queries.InboundFilter:
    until = _date(form.until.data)
    return queries.InboundFilter(
        status=form.status.data or None, reason=form.reason.data or None,
        application=form.application.data or None, source=form.source.data or None,
        auth=form.auth.data if form.auth.data in AUTH_FILTERS else None,
        search=(form.q.data or "").strip() or None, since=_date(form.since.data),
        until=until + timedelta(days=1) if until else None,
    )


@bp.route("/")
def index():
    form = _filter_form()
    before = before_arg()
    size = current_app.config["MAILGATE_PAGE_SIZE"]
    rows = queries.inbound_page(db.session, filter_from(form), limit=size + 1, before_id=before)
    more = len(rows) > size
    rows = rows[:size]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    next_url = url_for("inbound.index", **args, before=rows[-1].id) if more and rows else None
    first_url = url_for("inbound.index", **args) if before else None
    bad_dates = [n for n in ("since", "until") if request.args.get(n) and not _date(request.args.get(n))]
    return render_template("inbound/index.html", form=form, rows=rows, next_url=next_url,
                           first_url=first_url, bad_dates=bad_dates, retention=retention.describe(settings()))


def _linked(rec: ReceivedMessage) -> tuple[Task | None, Comment | None, list[Attachment]]:
    task = db.session.get(Task, rec.task_id) if rec.task_id else None
    comment = db.session.get(Comment, rec.comment_id) if rec.comment_id else None
    if comment is not None:
        files = list(comment.attachments)
    elif task is not None and rec.action == "create":
        files = list(task.attachments)
    else:
        files = []
    return task, comment, files


@bp.route("/<id:rec_id>")
def detail(rec_id: int):
    rec = get_or_404(ReceivedMessage, rec_id)
    raw = queries.inbound_raw(db.session, rec_id) or b""
    headers = _headers(raw)
    task, comment, files = _linked(rec)
    auth = AuthResult.from_json(rec.auth)
    return render_template(
        "inbound/detail.html", rec=rec, headers=headers, raw_size=len(raw), task=task, comment=comment,
        auth=auth, mismatch=mismatch_sentence(auth, rec.mail_from, rec.from_addr),
        files=files, parse=rec.parse or {}, reprocessable=rec.status in pipeline.REPROCESSABLE and not rec.truncated,
    )


def _headers(raw: bytes) -> list[tuple[str, str]]:
    """The header block as text; shown escaped, never interpreted."""
    return raw_headers(load_message(raw)) if raw else []


@bp.route("/<id:rec_id>/raw")
def raw(rec_id: int):
    data = queries.inbound_raw(db.session, rec_id)
    if data is None:
        abort(404)
    return Response(data, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="received-{rec_id}.eml"',
    })


@bp.route("/<id:rec_id>/reprocess", methods=["POST"])
def reprocess(rec_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    release()  # the pipeline runs its own transactions
    try:
        outcome = pipeline.reprocess(pipeline_db(), settings(), rec_id)
    except pipeline.NotReprocessable as exc:
        flash(str(exc), "error")
    except TempFail as exc:
        flash(f"The database is busy or unavailable; try again ({exc}).", "error")
    else:
        audit.record(db.session, actor(), "received.reprocess", f"#{rec_id}", status=str(outcome.status),
                     reason=str(outcome.reason) if outcome.reason else None)
        flash(f"Reprocessed: {outcome.status}" + (f" / {outcome.reason}" if outcome.reason else ""), "info")
    return redirect(url_for("inbound.detail", rec_id=rec_id))
