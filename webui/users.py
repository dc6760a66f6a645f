"""App users (the people who mail in) and their addresses; rules in shared.directory."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailgate.shared import directory
from mailgate.shared.models import AppUser
from mailgate.webui import settings
from mailgate.webui.extensions import db
from mailgate.webui.forms import UserAddForm, UserEmailForm
from mailgate.webui.helpers import actor, get_or_404, refuse

bp = Blueprint("users", __name__, url_prefix="/users")


def _list(form: UserAddForm | None = None, status: int = 200):
    users = db.session.scalars(select(AppUser).options(selectinload(AppUser.emails)).order_by(AppUser.username))
    return render_template("users/index.html", users=list(users), form=form or UserAddForm()), status


@bp.route("/")
def index():
    return _list()


@bp.route("/", methods=["POST"])
def add():
    form = UserAddForm()
    if not form.validate_on_submit():
        return _list(form, 400)
    try:
        user = directory.add_user(db.session, form.username.data.strip(), [form.email.data.strip()],
                                  form.name.data or "", settings=settings(), actor=actor())
    except directory.DirectoryError as exc:
        refuse(f"Not added: {exc}")
        return _list(form, 400)
    flash(f"Added user {user.username}.", "info")
    return redirect(url_for("users.detail", user_id=user.id))


@bp.route("/<id:user_id>")
def detail(user_id: int):
    user = get_or_404(AppUser, user_id)
    return render_template("users/detail.html", user=user, form=UserEmailForm())


@bp.route("/<id:user_id>/emails", methods=["POST"])
def add_email(user_id: int):
    user = get_or_404(AppUser, user_id)
    form = UserEmailForm()
    if form.validate_on_submit():
        try:
            directory.add_user_email(db.session, user.username, form.email.data.strip(), settings=settings(),
                                     actor=actor())
        except directory.DirectoryError as exc:
            refuse(f"Not added: {exc}")
            return render_template("users/detail.html", user=get_or_404(AppUser, user_id), form=form), 400
        flash(f"Added {form.email.data.strip().lower()} to {user.username}.", "info")
        return redirect(url_for("users.detail", user_id=user_id))
    return render_template("users/detail.html", user=user, form=form), 400


@bp.route("/<id:user_id>/enable", methods=["POST"])
@bp.route("/<id:user_id>/disable", methods=["POST"], endpoint="disable")
def enable(user_id: int):
    """Enable or disable (one view, two endpoints); CSRF is checked globally for every POST."""
    user = get_or_404(AppUser, user_id)
    enabled = request.endpoint == "users.enable"
    directory.set_user_enabled(db.session, user.username, enabled, actor=actor())
    flash(f"{user.username} is now {'enabled' if enabled else 'disabled'}.", "info")
    return redirect(url_for("users.detail", user_id=user_id))
