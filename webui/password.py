"""An admin changes their own password (the current one is asked for; other sessions end)."""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_user

from mailgate.shared.models import AdminUser
from mailgate.webui.accounts import AccountError, Admin, password_matches, set_password
from mailgate.webui.auth import check_allowed, client_address, note_failure, throttle, too_many
from mailgate.webui.database import release, rollback
from mailgate.webui.extensions import db
from mailgate.webui.forms import PasswordForm
from mailgate.webui.login_limits import AccountState

bp = Blueprint("password", __name__, url_prefix="/account")
log = logging.getLogger("mailgate.webui.auth")


@bp.route("/password", methods=["GET", "POST"])
def change():
    form = PasswordForm()
    if not form.validate_on_submit():
        return render_template("account/password.html", form=form)
    row = db.session.get(AdminUser, current_user.id)
    account = AccountState.of(row)
    # A wrong current password counts as a failed login: an open session is no way around the limits.
    wait = check_allowed(row.username, account)
    if wait > 0:
        log.warning("password change for %r from %s refused for %.0f s: too many failures", row.username,
                    client_address(), wait)
        return too_many("account/password.html", wait, form=form)
    ok = password_matches(row, form.current.data)
    release()
    if not ok:
        note_failure(current_user.username, account, action="passwd.failed")
        form.current.errors.append("This is not your current password.")
        return render_template("account/password.html", form=form), 200
    throttle().succeeded(f"addr:{client_address()}")
    try:
        changed = set_password(db.session, current_user.username, form.new.data,
                               actor=f"web:{current_user.username}")
    except AccountError as exc:
        rollback()
        form.new.errors.append(str(exc)[0].upper() + str(exc)[1:] + ".")
        return render_template("account/password.html", form=form), 200
    # This session goes on under the new generation; every other one (and any copied cookie) ends.
    login_user(Admin(changed.id, changed.username, changed.session_generation))
    log.info("console admin %r changed their password from %s", changed.username, client_address())
    flash("Password changed. Your other sessions are logged out.", "info")
    return redirect(url_for("dashboard.index"))
