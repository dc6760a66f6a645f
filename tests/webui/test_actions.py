"""Each console action has its effect, through the same shared functions as the CLI, audited."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from mailgate.shared.models import (
    AppUser, AuditEntry, CreateAddress, MailKey, OutboundMessage, ReceivedMessage, UserEmail,
)


def _audit(db, action: str) -> list[tuple[str, str]]:
    """(actor, target) of each audit entry with this action."""
    with db.read() as s:
        return list(s.execute(select(AuditEntry.actor, AuditEntry.target).where(AuditEntry.action == action)))


# --- Test Receiver ---------------------------------------------------------------------------

def test_test_receiver_labels(browser):
    html = browser.get("/test-receiver/").get_data(as_text=True)
    for label in ("From", "To", "Subject", "Body"):
        assert f'">{label}</label>' in html
    assert '<option value="bugs@reply.example.com">' in html  # the create-address picker


def test_test_receiver_form_runs_the_pipeline_and_shows_the_outcome(browser, db):
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-sender": "alice@example.org", "msg-to": "bugs@reply.example.com", "msg-subject": "Disk full",
        "msg-body": "The disk is full.\n\n!priority high\n", "msg-send": "1",
        "msg-attachment": (io.BytesIO(b"df output"), "df.txt", "text/plain"),
    }, content_type="multipart/form-data")
    assert r.status_code == 302 and "/received/" in r.location
    page = browser.get(r.location).get_data(as_text=True)
    assert "processed" in page and "create" in page and "T1" in page and "df.txt" in page
    att = __import__("re").search(r'href="(/tasks/attachments/\d+)"', page).group(1)
    r = browser.get(att)
    assert r.data == b"df output" and r.mimetype == "application/octet-stream"
    assert 'filename="df.txt"' in r.headers["Content-Disposition"]
    with db.read() as s:
        rec = s.scalars(select(ReceivedMessage)).one()
        assert rec.source == "test" and rec.status == "processed" and rec.commands == ["priority high"]


def test_test_receiver_create_address_picker_and_reply_helper(browser, db, task_with_reply, seed):
    ref, _ = task_with_reply
    with db.read() as s:
        issued = s.scalars(select(MailKey.issued).where(MailKey.retired_at.is_(None))).one()
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-create_address": "bugs@reply.example.com", "msg-use_create": "1"})
    assert r.status_code == 200 and 'value="bugs@reply.example.com"' in r.get_data(as_text=True)
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-task": ref, "msg-user": str(seed.bob), "msg-fill_reply": "1"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    address = __import__("re").search(r'id="msg-to"[^>]*value="([^"]+)"', html) or \
        __import__("re").search(r'value="([^"]+)"[^>]*id="msg-to"', html)
    assert address and address.group(1).startswith(f"{ref}+{seed.bob}+")
    assert 'value="bob@example.org"' in html  # From filled with the user's address
    with db.read() as s:
        assert s.scalars(select(MailKey.issued).where(MailKey.retired_at.is_(None))).one() == issued + 1
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-sender": "bob@example.org", "msg-to": address.group(1), "msg-subject": "Re: x",
        "msg-body": "Done.\n!close", "msg-send": "1"})
    assert r.status_code == 302
    assert "comment" in browser.get(r.location).get_data(as_text=True)


def test_test_receiver_raw_upload_routes_by_headers(browser, db, mail):
    raw = mail(subject="Uploaded", body="From a file.")
    r = browser.post("/test-receiver/upload", page="/test-receiver/", prefix="raw-", data={
        "raw-eml": (io.BytesIO(raw), "m.eml", "message/rfc822"), "raw-upload": "1"},
        content_type="multipart/form-data")
    assert r.status_code == 302
    with db.read() as s:
        rec = s.scalars(select(ReceivedMessage)).one()
        assert rec.status == "processed" and rec.rcpt_to == [] and rec.source == "test"


def test_test_receiver_shows_rejections_too(browser, db):
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-sender": "stranger@else.example", "msg-to": "bugs@reply.example.com", "msg-subject": "Hi",
        "msg-body": "x", "msg-send": "1"})
    page = browser.get(r.location).get_data(as_text=True)
    assert "rejected" in page and "unknown_sender" in page


# --- Received ----------------------------------------------------------------------------------

def test_received_filters_search_and_keyset_pages(app, browser, receive, mail, settings):
    for i in range(7):
        receive(mail(subject=f"Message number {i}", body="x"))
    receive(mail(sender="nobody@else.example", subject="Stranger danger", body="x"))
    app.config["MAILGATE_PAGE_SIZE"] = 3
    html = browser.get("/received/").get_data(as_text=True)
    assert "Stranger danger" in html and "Older" in html
    older = __import__("re").search(r'href="([^"]+before=\d+)"', html).group(1).replace("&amp;", "&")
    assert "Message number 0" not in html and "Message number 4" in browser.get(older).get_data(as_text=True)
    html = browser.get("/received/?status=rejected").get_data(as_text=True)
    assert "Stranger danger" in html and "Message number" not in html
    html = browser.get("/received/?reason=unknown_sender&source=test").get_data(as_text=True)
    assert "Stranger danger" in html
    html = browser.get("/received/?q=nobody@else").get_data(as_text=True)
    assert "Stranger danger" in html and "Message number" not in html
    html = browser.get("/received/?q=stranger").get_data(as_text=True)
    assert "Stranger danger" in html
    html = browser.get("/received/?q=nobody@else.exa").get_data(as_text=True)  # punctuation: as typed
    assert "Stranger danger" in html and "Message number" not in html
    if settings.is_sqlite:  # the FTS5 index: whole words; PostgreSQL matches substrings (ILIKE)
        assert "Stranger danger" not in browser.get("/received/?q=strang").get_data(as_text=True)
        assert "Stranger danger" in browser.get("/received/?q=strang*").get_data(as_text=True)
        assert "Stranger danger" not in browser.get("/received/?q=body@else").get_data(as_text=True)
    html = browser.get("/received/?q=%3Cnobody@else.example%3E").get_data(as_text=True)
    assert "Stranger danger" in html
    html = browser.get("/received/?since=2000-01-01&until=2000-01-02").get_data(as_text=True)
    assert "No messages match" in html
    html = browser.get("/received/?application=tasks&status=processed").get_data(as_text=True)
    assert "Message number 6" in html and "Stranger" not in html


def test_received_detail_and_raw(browser, receive, mail):
    out = receive(mail(subject="Detail me", body="New text.\n\nOn Mon, Bob wrote:\n> old stuff\n"))
    html = browser.get(f"/received/{out.id}").get_data(as_text=True)
    assert "New text." in html and "Routing and authorisation" in html and "Headers" in html
    r = browser.get(f"/received/{out.id}/raw")
    assert r.mimetype == "message/rfc822" and b"Detail me" in r.data
    assert "attachment" in r.headers["Content-Disposition"]


def test_reprocess_a_failed_message(browser, db, receive, mail, monkeypatch):
    from mailgate.shared import tracker

    def boom(*a, **k):
        raise RuntimeError("tracker down")

    monkeypatch.setattr(tracker, "create_task", boom)
    out = receive(mail(subject="Will fail", body="x"))
    assert out.status == "failed"
    html = browser.get(f"/received/{out.id}").get_data(as_text=True)
    assert "Reprocess" in html and "tracker down" in html
    monkeypatch.undo()
    r = browser.post(f"/received/{out.id}/reprocess", page=f"/received/{out.id}")
    assert r.status_code == 302
    with db.read() as s:
        assert s.get(ReceivedMessage, out.id).status == "processed"
    assert _audit(db, "received.reprocess")


# --- Outbound ----------------------------------------------------------------------------------

def _outbound(db, status="failed") -> int:
    with db.transaction() as s:
        row = OutboundMessage(recipient="bob@example.org", subject="[T9] hello", status=status, attempts=3,
                              last_error="550 no")
        s.add(row)
        s.flush()
        return row.id


def test_outbound_resend(browser, db):
    oid = _outbound(db)
    html = browser.get("/outbound/").get_data(as_text=True)
    assert "[T9] hello" in html
    r = browser.post(f"/outbound/{oid}/resend", page=f"/outbound/{oid}")
    assert r.status_code == 302
    with db.read() as s:
        row = s.get(OutboundMessage, oid)
        assert row.status == "queued" and row.attempts == 0
    assert _audit(db, "outbound.resend")


def test_outbound_void_needs_confirmation(browser, db):
    oid = _outbound(db, "queued")
    page = f"/outbound/{oid}/void"
    assert "will never be sent" in browser.get(page).get_data(as_text=True)
    r = browser.post(page, data={"reason": "wrong person"})
    assert r.status_code == 400
    with db.read() as s:
        assert s.get(OutboundMessage, oid).status == "queued"
    r = browser.post(page, data={"reason": "wrong person", "confirm": "y"})
    assert r.status_code == 302
    with db.read() as s:
        assert s.get(OutboundMessage, oid).status == "void"
    assert _audit(db, "outbound.void")


def test_outbound_void_refused_for_sent(browser, db):
    oid = _outbound(db, "sent")
    r = browser.post(f"/outbound/{oid}/void", data={"reason": "x", "confirm": "y"}, follow_redirects=True)
    assert "Cannot void" in r.get_data(as_text=True)
    with db.read() as s:
        assert s.get(OutboundMessage, oid).status == "sent"


# --- Applications ------------------------------------------------------------------------------

def _addresses(db) -> set[str]:
    with db.read() as s:
        return set(s.scalars(select(CreateAddress.address)))


def test_add_create_address(browser, db):
    r = browser.post("/applications/tasks/addresses", page="/applications/", prefix="add-1-",
                     data={"add-1-address": "Support@Reply.Example.com"})
    assert r.status_code == 302
    assert "support@reply.example.com" in _addresses(db)
    assert _audit(db, "address.add")


def test_add_create_address_validation(browser, db):
    for bad, why in [("postmaster@reply.example.com", "reserved"), ("x@other.example", "not a domain"),
                     ("bob@example.org", "not a domain"), ("bugs@reply.example.com", "already"),
                     ("T1+2+abc@reply.example.com", "reply-address"), ("not an address", "")]:
        r = browser.post("/applications/tasks/addresses", page="/applications/", prefix="add-1-",
                         data={"add-1-address": bad})
        assert r.status_code == 400, bad
        assert why in r.get_data(as_text=True), (bad, why)
    assert _addresses(db) == {"bugs@reply.example.com"}


def test_default_author_needs_the_public_warning_ticked(browser, db):
    page = "/applications/addresses/1/default-author"
    assert "anyone on the internet" in browser.get(page).get_data(as_text=True)
    r = browser.post(page, data={"default_author": "alice"})
    assert r.status_code == 400
    r = browser.post(page, data={"default_author": "alice", "confirm_public": "y"})
    assert r.status_code == 302
    with db.read() as s:
        assert s.get(CreateAddress, 1).default_author_id is not None
    r = browser.post(page, data={"default_author": ""})
    with db.read() as s:
        assert s.get(CreateAddress, 1).default_author_id is None


def test_remove_create_address_with_confirmation(browser, db):
    page = "/applications/addresses/1/remove"
    assert "unknown_recipient" in browser.get(page).get_data(as_text=True)
    assert browser.post(page, data={}).status_code == 200  # not confirmed: the question again
    assert _addresses(db) == {"bugs@reply.example.com"}
    assert browser.post(page, data={"confirm": "y"}).status_code == 302
    assert _addresses(db) == set()
    assert _audit(db, "address.remove")


# --- Mail key ----------------------------------------------------------------------------------

def test_mail_key_page_shows_fingerprint_never_the_secret(browser, db):
    from mailgate.shared.keys import fingerprint

    with db.read() as s:
        key = s.scalars(select(MailKey)).one()
        secret, fp = key.secret, fingerprint(key)
    html = browser.get("/mail-key/").get_data(as_text=True)
    assert secret not in html and fp in html


def test_rotate_key_needs_confirmation_and_is_audited(browser, db, task_with_reply, receive, mail):
    ref, address = task_with_reply
    html = browser.get("/mail-key/rotate").get_data(as_text=True)
    assert "Every reply address sent so far stops working" in html
    assert browser.post("/mail-key/rotate", data={}).status_code == 200
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MailKey)) == 1
    assert browser.post("/mail-key/rotate", data={"confirm": "y"}).status_code == 302
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MailKey).where(MailKey.retired_at.is_(None))) == 1
        assert s.scalar(select(func.count()).select_from(MailKey)) == 2
    assert _audit(db, "mailkey.rotate")[0][0] == "web:admin"
    out = receive(mail(sender="bob@example.org", to=address, body="late reply"), to=[address])
    assert out.reason == "invalid_hash"


# --- Users ---------------------------------------------------------------------------------------

def test_add_user_add_email_disable_enable(browser, db):
    r = browser.post("/users/", page="/users/", data={"username": "dave", "email": "Dave@Example.org", "name": "Dave"})
    assert r.status_code == 302
    with db.read() as s:
        dave_id = s.scalars(select(AppUser.id).where(AppUser.username == "dave")).one()
    page = f"/users/{dave_id}"
    assert browser.post(f"/users/{dave_id}/emails", page=page, data={"email": "d@work.example"}).status_code == 302
    r = browser.post(f"/users/{dave_id}/emails", page=page, data={"email": "alice@example.org"})
    assert r.status_code == 400 and "already" in r.get_data(as_text=True)
    with db.read() as s:
        assert set(s.scalars(select(UserEmail.address).where(UserEmail.user_id == dave_id))) == {
            "dave@example.org", "d@work.example"}
    browser.post(f"/users/{dave_id}/disable", page=page)
    with db.read() as s:
        assert s.get(AppUser, dave_id).enabled is False
    browser.post(f"/users/{dave_id}/enable", page=page)
    with db.read() as s:
        assert s.get(AppUser, dave_id).enabled is True
    assert _audit(db, "user.disable") and _audit(db, "user.enable")


def test_add_user_refusal_changes_nothing(browser, db):
    r = browser.post("/users/", page="/users/", data={"username": "eve", "email": "bob@example.org"})
    assert r.status_code == 400
    with db.read() as s:
        assert s.scalars(select(AppUser).where(AppUser.username == "eve")).first() is None


# --- Tasks, health, audit, dashboard ----------------------------------------------------------------

def test_task_pages(browser, task_with_reply, receive, mail):
    ref, address = task_with_reply
    receive(mail(sender="bob@example.org", to=address, body="On it."), to=[address])
    assert "Printer on fire" in browser.get("/tasks/").get_data(as_text=True)
    html = browser.get(f"/tasks/{ref}").get_data(as_text=True)
    assert "On it." in html and "bob" in html
    assert browser.get("/tasks/T999").status_code == 404


def test_health_lists_the_checks(browser):
    html = browser.get("/health/").get_data(as_text=True)
    assert "database" in html.lower()


def test_audit_log_lists_console_actions(browser):
    browser.post("/mail-key/rotate", data={"confirm": "y"})
    html = browser.get("/audit/?action=mailkey").get_data(as_text=True)
    assert "mailkey.rotate" in html and "web:admin" in html


def test_dashboard_counts_and_chart(browser, receive, mail, task_with_reply):
    receive(mail(sender="nobody@else.example", subject="x", body="x"))
    html = browser.get("/").get_data(as_text=True)
    assert "<svg" in html and 'class="s-processed"' in html and 'class="s-rejected"' in html
    assert "Milter last seen" in html and "Outbound queue" in html



def test_dashboard_milter_last_seen_from_heartbeat(browser, db):
    from mailgate.shared.db import utcnow
    from mailgate.shared.models import Heartbeat

    assert "never" in browser.get("/").get_data(as_text=True)
    with db.transaction() as s:
        s.add(Heartbeat(service="milter", host="mx1.example.com", pid=42, last_seen=utcnow()))
    html = browser.get("/").get_data(as_text=True)
    assert "seconds ago" in html and "milter on mx1.example.com" in html


def test_a_user_address_at_mailgates_domain_is_refused_in_the_console(browser, db):
    r = browser.post("/users/", page="/users/", data={"username": "mallory", "email": "bugs@reply.example.com"})
    assert r.status_code == 400 and "Mailgate&#39;s own domain" in r.get_data(as_text=True)
    with db.read() as s:
        assert s.scalars(select(AppUser).where(AppUser.username == "mallory")).first() is None


def test_the_received_log_says_how_long_mail_is_kept(browser):
    html = browser.get("/received/").get_data(as_text=True)
    assert "Processed mail is kept 90 days; rejected and ignored mail 14 days" in html


def _many_comments(db, ref: str, n: int) -> None:
    from mailgate.shared import queries as q
    from mailgate.shared.models import Comment, ReceivedMessage

    with db.transaction() as s:
        task = q.get_task(s, ref)
        s.add_all(Comment(task_id=task.id, author_id=task.author_id, text=f"comment number {i}.") for i in range(n))
        s.flush()
        s.add_all(ReceivedMessage(source="test", mail_from="a@example.org", rcpt_to=[], status="processed",
                                  task_id=task.id, subject=f"reply {i}", from_addr="a@example.org",
                                  dedupe_key=f"bulk-{i}", size=1) for i in range(n))


def test_a_task_with_thousands_of_comments_is_shown_a_page_at_a_time(browser, db, task_with_reply):
    """Issue 20 item 11: a task with ~20k comments was an 83 MB page; now the page is bounded."""
    ref, _ = task_with_reply
    _many_comments(db, ref, 2500)
    r = browser.get(f"/tasks/{ref}")
    html = r.get_data(as_text=True)
    assert "comment number 0." in html and "comment number 99." in html and "comment number 100." not in html
    assert "Comments 1–100 of 2,500" in html
    assert len(html) < 200_000, len(html)  # every received message of the task was listed too
    nxt = re.search(r'href="([^"]*after=\d+[^"]*)" rel="next"', html).group(1).replace("&amp;", "&")
    html = browser.get(nxt).get_data(as_text=True)
    assert "comment number 100." in html and "comment number 199." in html and "comment number 99." not in html
    assert "Comments 101–200 of 2,500" in html
    last = re.search(r'href="([^"]*)">Last', html).group(1).replace("&amp;", "&")
    html = browser.get(last).get_data(as_text=True)
    assert "comment number 2499." in html and "Comments 2,401–2,500 of 2,500" in html
    assert 'rel="next"' not in html
