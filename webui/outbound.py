"""The Outbound log: notifications queued, sent, failed or voided, with Resend and Void.

The actions themselves (and their audit entries) live in
`mailgate.shared.outbound`, shared with the CLI.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from mailgate.shared import queries
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound import OutboundError
from mailgate.shared.outbound import resend as resend_message
from mailgate.shared.outbound import void as void_message
from mailgate.webui import settings
from mailgate.webui.extensions import db
from mailgate.webui.forms import ActionForm, VoidForm
from mailgate.webui.helpers import actor, before_arg, get_or_404, refuse

bp = Blueprint("outbound", __name__, url_prefix="/outbound")
STATUSES = ("queued", "sent", "failed", "void")


@bp.route("/")
def index():
    status = request.args.get("status") or None
    before = before_arg()
    size = current_app.config["MAILGATE_PAGE_SIZE"]
    q = select(OutboundMessage)
    if status in STATUSES:
        q = q.where(OutboundMessage.status == status)
    if before:
        q = q.where(OutboundMessage.id < before)
    rows = list(db.session.scalars(q.order_by(OutboundMessage.id.desc()).limit(size + 1)))
    more = len(rows) > size
    rows = rows[:size]
    next_url = url_for("outbound.index", status=status, before=rows[-1].id) if more and rows else None
    return render_template("outbound/index.html", rows=rows, status=status, statuses=STATUSES,
                           next_url=next_url, first_url=url_for("outbound.index", status=status) if before else None)


@bp.route("/<id:out_id>")
def detail(out_id: int):
    row = get_or_404(OutboundMessage, out_id)
    return render_template("outbound/detail.html", row=row, data=queries.outbound_json(row))


@bp.route("/<id:out_id>/resend", methods=["POST"])
def resend(out_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    get_or_404(OutboundMessage, out_id)
    try:
        resend_message(db.session, out_id, actor(), settings())
    except OutboundError as exc:
        refuse(f"Cannot resend: {exc}")
    else:
        flash("Queued again for sending.", "info")
    return redirect(url_for("outbound.detail", out_id=out_id))


@bp.route("/<id:out_id>/void", methods=["GET", "POST"])
def void(out_id: int):
    row = get_or_404(OutboundMessage, out_id)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            void_message(db.session, out_id, actor(), form.reason.data.strip())
        except OutboundError as exc:
            refuse(f"Cannot void: {exc}")
        else:
            flash("Voided: it will not be sent.", "info")
        return redirect(url_for("outbound.detail", out_id=out_id))
    return render_template("outbound/void.html", row=row, form=form), 400 if form.is_submitted() else 200
