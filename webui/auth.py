"""Login and logout for console admins (accounts made with `mailgate create-admin`)."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from mailgate.shared import audit
from mailgate.shared.models import AdminUser
from mailgate.webui.access import public
from mailgate.webui.accounts import Admin, Throttle, authenticate, note_login
from mailgate.webui.database import release
from mailgate.webui.extensions import db, login_manager
from mailgate.webui.forms import ActionForm, LoginForm

bp = Blueprint("auth", __name__)
log = logging.getLogger("mailgate.webui.auth")
throttle = Throttle()

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load(user_id: str) -> Admin | None:
    if not user_id.isdigit():
        return None
    row = db.session.scalars(select(AdminUser).where(AdminUser.id == int(user_id))).first()
    return Admin(row.id, row.username) if row else None


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next` must not become an open redirect."""
    if not target:
        return url_for("dashboard.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        name, addr = form.username.data.strip(), request.remote_addr or "?"
        keys = (f"user:{name.lower()}", f"addr:{addr}")
        base = current_app.config["MAILGATE_LOGIN_DELAY"]
        throttle.base = base
        wait = throttle.delay_for(*keys)
        if wait:
            time.sleep(wait)
        row = authenticate(db.session, name, form.password.data)
        admin = Admin(row.id, row.username) if row else None
        release()  # the checks were reads; the writes below take the lock only briefly
        if admin is None:
            throttle.failed(*keys)
            if base:
                time.sleep(base)  # every failure costs time, even the first
            log.warning("failed console login for %r from %s", name, addr)
            audit.record(db.session, f"web:{addr}", "login.failed", name[:64])
            flash("Wrong username or password.", "error")
            return render_template("auth/login.html", form=form), 200
        throttle.succeeded(*keys)
        note_login(db.session, admin.id)
        login_user(admin)
        audit.record(db.session, f"web:{admin.username}", "login", admin.username, addr=addr)
        log.info("console login %r from %s", admin.username, addr)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    form = ActionForm()
    if form.validate_on_submit():
        logout_user()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
