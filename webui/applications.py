"""Applications and their create addresses: add (validated in shared.directory), remove, default author."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from mailgate.shared import directory
from mailgate.shared.models import AppUser, Application, CreateAddress
from mailgate.webui import settings
from mailgate.webui.extensions import db
from mailgate.shared.senderauth.policy import MODES
from mailgate.webui.forms import AddressAddForm, ConfirmForm, DefaultAuthorForm, SenderAuthForm, ServiceDeskForm
from mailgate.webui.helpers import actor, get_or_404, refuse

bp = Blueprint("applications", __name__, url_prefix="/applications")

PUBLIC_WARNING = ("A default author makes this address public: anyone on the internet who knows it can "
                  "open tasks, which will appear as written by that user.")


def _author_choices() -> list[tuple[str, str]]:
    users = db.session.scalars(select(AppUser).where(AppUser.enabled.is_(True), AppUser.builtin.is_(False))
                               .order_by(AppUser.username))
    return [("", "— none: only known users may write —")] + [(u.username, u.username) for u in users]


def _auth_choices() -> list[tuple[str, str]]:
    return [("", f"default ({settings().sender_auth})")] + [(m, m) for m in MODES]


def _apps() -> list[Application]:
    return list(db.session.scalars(
        select(Application).options(selectinload(Application.addresses).selectinload(CreateAddress.default_author))
        .order_by(Application.name)))


def _render(app_name: str | None = None, add_form: AddressAddForm | None = None, status: int = 200):
    forms = {}
    for app in _apps():
        form = AddressAddForm(prefix=f"add-{app.id}") if add_form is None or app.name != app_name else add_form
        form.default_author.choices = _author_choices()
        form.sender_auth.choices = _auth_choices()
        forms[app.id] = form
    auth_forms = {}
    for app in _apps():
        for a in app.addresses:
            auth_forms[a.id] = f = SenderAuthForm(prefix=f"auth-{a.id}")
            f.sender_auth.choices = _auth_choices()
            f.sender_auth.data = a.sender_auth or ""
    return render_template("applications/index.html", apps=_apps(), forms=forms, warning=PUBLIC_WARNING,
                           domains=settings().domains, auth_forms=auth_forms,
                           global_auth=settings().sender_auth,
                           stranded=directory.stranded_addresses(db.session, settings())), status


@bp.route("/")
def index():
    return _render()


@bp.route("/<name>/addresses", methods=["POST"])
def add_address(name: str):
    app = db.session.scalars(select(Application).where(Application.name == name)).first()
    if app is None:
        abort(404)
    form = AddressAddForm(prefix=f"add-{app.id}")
    form.default_author.choices = _author_choices()
    form.sender_auth.choices = _auth_choices()
    if not form.validate_on_submit():
        return _render(name, form, 400)
    author = form.default_author.data or None
    if author and not form.confirm_public.data and not form.service_desk.data:
        form.confirm_public.errors = ["Tick this box to confirm you want a public address."]
        return _render(name, form, 400)
    try:
        row = directory.add_create_address(db.session, settings(), name, form.address.data, author, actor=actor(),
                                           sender_auth=form.sender_auth.data or None,
                                           service_desk=bool(form.service_desk.data))
    except directory.DirectoryError as exc:
        refuse(f"Not added: {exc}")
        form.address.errors = [str(exc)]
        return _render(name, form, 400)
    if row.service_desk:
        flash(f"Added {row.address} to {name} as a service desk: anyone may write, and is answered by mail.", "info")
    else:
        flash(f"Added {row.address} to {name}." + (" It is public (default author)." if author else ""), "info")
    return redirect(url_for("applications.index"))


@bp.route("/addresses/<id:addr_id>/service-desk", methods=["GET", "POST"])
def service_desk(addr_id: int):
    row = get_or_404(CreateAddress, addr_id)
    form = ServiceDeskForm()
    if form.validate_on_submit():
        template = (form.template.data or "").strip("\n")
        try:
            directory.set_service_desk(db.session, row.address, actor=actor(), enabled=bool(form.enabled.data),
                                       acknowledge=bool(form.acknowledge.data),
                                       cc_participants=bool(form.cc_participants.data),
                                       template=template + "\n" if template.strip() else None)
        except directory.DirectoryError as exc:
            refuse(str(exc))
            form.template.errors = [str(exc)]
            return _desk_page(row, form, 400)
        flash(f"{row.address}: " + ("service desk on." if row.service_desk else "service desk off."), "info")
        return redirect(url_for("applications.index"))
    if not form.is_submitted():
        form.enabled.data, form.acknowledge.data = row.service_desk, row.desk_acknowledge
        form.cc_participants.data, form.template.data = row.desk_cc, row.desk_template or ""
    return _desk_page(row, form)


def _desk_page(row: CreateAddress, form: ServiceDeskForm, status: int = 200):
    from mailgate.shared.servicedesk import acknowledgement

    return render_template("applications/service_desk.html", row=row, form=form, default_text=acknowledgement.DEFAULT,
                           placeholders=acknowledgement.PLACEHOLDERS), status


@bp.route("/addresses/<id:addr_id>/sender-auth", methods=["POST"])
def sender_auth(addr_id: int):
    row = get_or_404(CreateAddress, addr_id)
    form = SenderAuthForm(prefix=f"auth-{addr_id}")
    form.sender_auth.choices = _auth_choices()
    if not form.validate_on_submit():
        abort(400)
    try:
        directory.set_sender_auth(db.session, row.address, form.sender_auth.data or None, actor=actor())
    except directory.DirectoryError as exc:
        refuse(str(exc))
        return redirect(url_for("applications.index"))
    flash(f"{row.address}: sender authentication {row.sender_auth or 'follows the server setting'}.", "info")
    return redirect(url_for("applications.index"))


@bp.route("/addresses/<id:addr_id>/remove", methods=["GET", "POST"])
def remove_address(addr_id: int):
    row = get_or_404(CreateAddress, addr_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        address = row.address
        directory.remove_create_address(db.session, address, actor=actor())
        flash(f"Removed {address}. Mail to it is now refused as an unknown recipient.", "info")
        return redirect(url_for("applications.index"))
    return render_template("applications/remove.html", row=row, form=form)


@bp.route("/addresses/<id:addr_id>/default-author", methods=["GET", "POST"])
def default_author(addr_id: int):
    row = get_or_404(CreateAddress, addr_id)
    form = DefaultAuthorForm()
    form.default_author.choices = _author_choices()
    if form.validate_on_submit():
        username = form.default_author.data or None
        if username and not form.confirm_public.data:
            form.confirm_public.errors = ["Tick this box to confirm you want a public address."]
            return render_template("applications/default_author.html", row=row, form=form,
                                   warning=PUBLIC_WARNING), 400
        try:
            directory.set_default_author(db.session, row.address, username, actor=actor())
        except directory.DirectoryError as exc:
            refuse(str(exc))
            return redirect(url_for("applications.default_author", addr_id=addr_id))
        flash(f"{row.address}: " + (f"default author is now {username}; the address is public."
                                    if username else "no default author; only known users may write."), "info")
        return redirect(url_for("applications.index"))
    if not form.is_submitted():
        form.default_author.data = row.default_author.username if row.default_author else ""
    return render_template("applications/default_author.html", row=row, form=form, warning=PUBLIC_WARNING)
