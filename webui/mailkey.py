"""The mail key: its fingerprint (never the secret), age, addresses issued, and rotation."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select

from mailgate.shared import audit, keys
from mailgate.shared.models import MailKey
from mailgate.webui.extensions import db
from mailgate.webui.forms import ConfirmForm
from mailgate.webui.helpers import actor

bp = Blueprint("mailkey", __name__, url_prefix="/mail-key")

ROTATE_WARNING = ("Every reply address sent so far stops working at once: replies to notifications already "
                  "in people's mailboxes will be refused as invalid_hash. New notifications carry new addresses.")


@bp.route("/")
def index():
    try:
        key = keys.current_key(db.session)
    except keys.NoMailKey:
        key = None
    retired = list(db.session.scalars(
        select(MailKey).where(MailKey.retired_at.is_not(None)).order_by(MailKey.id.desc()).limit(10)))
    issued = keys.issued_counts(db.session, ([key] if key else []) + retired)
    return render_template("mailkey/index.html", key=key, fingerprint=keys.fingerprint(key) if key else None,
                           retired=[(k, keys.fingerprint(k)) for k in retired], issued=issued,
                           warning=ROTATE_WARNING)


@bp.route("/rotate", methods=["GET", "POST"])
def rotate():
    form = ConfirmForm()
    if form.validate_on_submit():
        old = keys.current_key(db.session) if _has_key() else None
        old_fp, issued = (keys.fingerprint(old), keys.issued_count(db.session, old)) if old else (None, 0)
        new = keys.rotate_key(db.session)
        audit.record(db.session, actor(), "mailkey.rotate", keys.fingerprint(new), retired=old_fp, issued=issued)
        flash(f"Mail key rotated: {old_fp or 'no key'} retired ({issued} reply addresses stop working); "
              f"current key {keys.fingerprint(new)}.", "info")
        return redirect(url_for("mailkey.index"))
    return render_template("mailkey/rotate.html", form=form, warning=ROTATE_WARNING)


def _has_key() -> bool:
    try:
        keys.current_key(db.session)
    except keys.NoMailKey:
        return False
    return True
