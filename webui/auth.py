"""Login and logout for console admins (accounts made with `mailgate create-admin`)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from mailgate.shared import audit
from mailgate.shared.db import utcnow
from mailgate.shared.models import AdminUser
from mailgate.webui.access import public
from mailgate.webui.accounts import Admin, end_sessions, find_admin, note_login, parse_login_id, password_matches
from mailgate.webui.database import release
from mailgate.webui.extensions import db, login_manager
from mailgate.webui.forms import ActionForm, LoginForm
from mailgate.webui.login_limits import AccountState, Limits, Throttle, record_account_failure, retry_after_header

bp = Blueprint("auth", __name__)
log = logging.getLogger("mailgate.webui.auth")

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.session_protection = "strong"
TOO_MANY = "Too many failed logins. Try again in {seconds} second{s}."


@login_manager.user_loader
def _load(login_id: str) -> Admin | None:
    parsed = parse_login_id(login_id)
    if parsed is None:
        return None
    row = db.session.scalars(select(AdminUser).where(AdminUser.id == parsed[0])).first()
    if row is None or row.disabled or row.session_generation != parsed[1]:
        return None  # logged out, password changed or disabled since this cookie was made
    return Admin(row.id, row.username, row.session_generation)


def limits() -> Limits:
    return current_app.extensions["mailgate.login_limits"]


def throttle() -> Throttle:
    return current_app.extensions["mailgate.login_throttle"]


def init_app(app: Flask) -> None:
    cfg = app.config
    app.extensions["mailgate.login_limits"] = Limits(
        base=cfg["MAILGATE_LOGIN_DELAY"], ceiling=cfg["MAILGATE_LOGIN_DELAY_MAX"],
        lock_after=cfg["MAILGATE_LOGIN_LOCK_AFTER"], lock_for=cfg["MAILGATE_LOGIN_LOCK_SECONDS"])
    app.extensions["mailgate.login_throttle"] = Throttle(app.extensions["mailgate.login_limits"])


def client_address() -> str:
    return request.remote_addr or "?"


def check_allowed(name: str, account: AccountState | None) -> float:
    """Seconds this client must wait before a password for `name` is checked (0: go ahead, counted)."""
    wait = account.wait(limits(), utcnow()) if account else 0.0
    if wait > 0:
        return wait
    keys = {f"addr:{client_address()}": False}
    if account is None:
        keys[f"name:{name.lower()}"] = True
    return throttle().attempt(keys)


def too_many(template: str, wait: float, **context) -> Response:
    """The 429 page: the form again, with when to come back."""
    seconds = retry_after_header(wait)
    flash(TOO_MANY.format(seconds=seconds, s="" if seconds == "1" else "s"), "error")
    response = current_app.make_response((render_template(template, **context), 429))
    response.headers["Retry-After"] = seconds
    return response


def note_failure(name: str, account: AccountState | None, action: str = "login.failed") -> None:
    """A wrong password: counted against the account, logged and audited (the caller has released the read)."""
    addr = client_address()
    log.warning("failed console login for %r from %s", name, addr)
    audit.record(db.session, f"web:{addr}", action, name[:64])
    if account is not None:
        until = record_account_failure(db.session, account.id, limits(), utcnow())
        if until is not None:
            log.warning("console account %r locked until %s UTC after %d failed logins",
                        name, until.isoformat(timespec="seconds"), limits().lock_after)
            audit.record(db.session, f"web:{addr}", "admin.locked", name[:64], until=until.isoformat())


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
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    name, addr = form.username.data.strip(), client_address()
    row = find_admin(db.session, name)
    account = AccountState.of(row) if row else None
    wait = check_allowed(name, account)
    if wait > 0:
        log.warning("console login for %r from %s refused for %.0f s: too many failures", name, addr, wait)
        return too_many("auth/login.html", wait, form=form)
    ok = password_matches(row, form.password.data)
    admin = Admin(row.id, row.username, row.session_generation) if ok else None
    disabled = bool(ok and row.disabled)
    release()  # the checks were reads; the writes below take the lock only briefly
    if admin is None:
        note_failure(name, account)
        flash("Wrong username or password.", "error")
        return render_template("auth/login.html", form=form), 200
    throttle().succeeded(f"addr:{addr}")
    if disabled:
        audit.record(db.session, f"web:{addr}", "login.disabled", admin.username)
        flash("This account is disabled (another admin can enable it: mailgate admin enable NAME).", "error")
        return render_template("auth/login.html", form=form), 200
    note_login(db.session, admin.id)
    login_user(admin)
    audit.record(db.session, f"web:{admin.username}", "login", admin.username, addr=addr)
    log.info("console login %r from %s", admin.username, addr)
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    form = ActionForm()
    if form.validate_on_submit():
        end_sessions(db.session, current_user.id)  # this cookie, and any copy of it, stops working
        audit.record(db.session, f"web:{current_user.username}", "logout", current_user.username)
        logout_user()
        flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
