"""The Test Receiver: write or upload a message and push it through the real `receive()`.

It does not talk to Postfix at all, so it behaves the same on a laptop
without a mail server as on the MX host (like Phabricator's test receiver);
messages are stored with source `test` and the admin lands on the stored
message's outcome page.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from flask import Blueprint, flash, redirect, render_template, url_for
from sqlalchemy import select

from mailgate.shared import addresses, durability
from mailgate.shared.directory import list_create_addresses
from mailgate.shared.envelope import Envelope
from mailgate.shared.keys import NoMailKey
from mailgate.shared.models import AppUser
from mailgate.shared.outcomes import TempFail
from mailgate.shared.pipeline import receive
from mailgate.shared.queries import as_id, get_task
from mailgate.webui import settings
from mailgate.webui.database import pipeline_db, release
from mailgate.webui.extensions import db
from mailgate.webui.forms import RawUploadForm, TestMessageForm

bp = Blueprint("testreceiver", __name__, url_prefix="/test-receiver")


def _forms(form: TestMessageForm | None = None, upload: RawUploadForm | None = None):
    form = form or TestMessageForm(prefix="msg")
    upload = upload or RawUploadForm(prefix="raw")
    creates = [a.address for a in list_create_addresses(db.session)]
    form.create_address.choices = [(a, a) for a in creates]
    users = db.session.scalars(select(AppUser).order_by(AppUser.username)).all()
    form.user.choices = [(str(u.id), u.username) for u in users]
    return form, upload, creates


def _page(form=None, upload=None, status: int = 200):
    form, upload, creates = _forms(form, upload)
    return render_template("testreceiver/index.html", form=form, upload=upload, creates=creates), status


def build_message(sender: str, to: str, subject: str, body: str,
                  attachment: tuple[str, str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="test-receiver.mailgate.invalid")
    msg.set_content(body or "")
    if attachment:
        name, ctype, data = attachment
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=name)
    return msg.as_bytes()


def _run(envelope: Envelope, raw: bytes):
    release()  # the pipeline stores first, in its own transaction
    try:
        outcome = receive(pipeline_db(), settings(), envelope, raw)
    except TempFail as exc:
        flash(f"The database is unavailable; nothing was stored ({exc}).", "error")
        return redirect(url_for("testreceiver.index"))
    flash(f"Message #{outcome.id}: {outcome.status}" + (f" / {outcome.reason}" if outcome.reason else "")
          + (f" — {outcome.action} {outcome.object}" if outcome.action else ""), "info")
    return redirect(url_for("inbound.detail", rec_id=outcome.id))


@bp.route("/", methods=["GET"])
def index():
    return _page()


@bp.route("/send", methods=["POST"])
def send():
    form, upload, _ = _forms(TestMessageForm(prefix="msg"))
    if form.use_create.data:
        form.to.data = form.create_address.data
        form.to.errors = []
        return _page(form, upload)
    if form.fill_reply.data:
        return _fill_reply(form, upload)
    if not form.validate_on_submit():
        return _page(form, upload, 400)
    bad = _not_addresses(form.to.data)
    if bad:  # a form error, not a stored `rejected` message: nothing an MTA would have passed on
        form.to.errors = [f"Not an email address: {', '.join(bad)}. Use local@domain, or Name <local@domain>, "
                          "separated by commas."]
        return _page(form, upload, 400)
    sender = parseaddr(form.sender.data)[1] or form.sender.data.strip()
    attachment = None
    if form.attachment.data and getattr(form.attachment.data, "filename", ""):
        f = form.attachment.data
        attachment = (f.filename, f.mimetype or "application/octet-stream", f.read())
    raw = build_message(form.sender.data.strip(), form.to.data.strip(), form.subject.data or "",
                        form.body.data or "", attachment)
    return _run(Envelope(source="test", sender=sender, recipients=_recipients(form.to.data)), raw)


_MAILBOX = re.compile(r"[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.?[^@\s<>(),;:\"\[\]]*")


def _not_addresses(text: str) -> list[str]:
    """The parts of a To line that are not `local@domain` (none: every part is an address)."""
    parts = [p.strip() for p in re.split(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", text or "") if p.strip()]
    bad = []
    for part in parts:
        found = getaddresses([part])
        if len(found) != 1 or not _MAILBOX.fullmatch(found[0][1] or ""):
            bad.append(repr(part))
    return bad if parts else ["(empty)"]


def _recipients(text: str) -> list[str]:
    """Every address of a To line (`Name <a@b>, c@d`) as envelope recipients, as a real MTA would pass
    them: the pipeline then treats each as the milter would (Mailgate's routed, others not ours)."""
    found = [addr for _name, addr in getaddresses([text]) if addr]
    return found or ([text.strip()] if text.strip() else [])


def _fill_reply(form: TestMessageForm, upload: RawUploadForm):
    task = get_task(db.session, form.task.data or "")
    user_id = as_id(form.user.data)
    user = db.session.get(AppUser, user_id) if user_id else None
    if task is None or user is None:
        form.task.errors = ["Name an existing task (like T1) and pick a user."]
        return _page(form, upload, 400)
    ref, title, email = task.ref, task.title, user.primary_email
    release()  # the address is counted in a transaction of its own (durability.transaction)
    try:
        with durability.transaction(pipeline_db()) as conn:
            address, _key = addresses.issue_reply_address(conn, settings(), ref, user_id)
    except NoMailKey as exc:
        form.task.errors = [str(exc)]
        return _page(form, upload, 400)
    form.to.data = address
    if not form.sender.data and email:
        form.sender.data = email
    if not form.subject.data:
        form.subject.data = f"Re: {title}"
    return _page(form, upload)


@bp.route("/upload", methods=["POST"])
def upload():
    form, upload_form, _ = _forms(None, RawUploadForm(prefix="raw"))
    if not upload_form.validate_on_submit():
        return _page(form, upload_form, 400)
    raw = upload_form.eml.data.read()
    sender = (upload_form.envelope_from.data or "").strip()
    if sender and sender != "<>":
        sender = parseaddr(sender)[1] or sender
    envelope = Envelope(source="test", sender=("" if sender == "<>" else sender) if sender else None,
                        recipients=_recipients(upload_form.envelope_to.data or ""))
    return _run(envelope, raw)
