"""Hostile or odd input to the console gets a page (a 404, a 400 with the field's error, an ignored
filter), never a 500; and the Test Receiver routes a message as the real ingress would."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from mailgate.shared.models import ReceivedMessage
from mailgate.shared.queries import MAX_ID

HUGE = "99999999999999999999999"  # beyond SQLite's 64-bit integers
JUST_OVER = str(MAX_ID + 1)  # beyond PostgreSQL's INTEGER

ID_ROUTES = [
    "/received/{}", "/received/{}/raw", "/outbound/{}", "/outbound/{}/void", "/users/{}", "/tasks/T{}",
    "/tasks/attachments/{}", "/applications/addresses/{}/remove", "/applications/addresses/{}/default-author",
]


@pytest.fixture
def production_errors(app):
    """An exception is the 500 a user would see, not re-raised into the test."""
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    return app


@pytest.mark.parametrize("number", [HUGE, JUST_OVER, "0"])
@pytest.mark.parametrize("route", ID_ROUTES)
def test_an_id_no_row_can_have_is_404(production_errors, browser, route, number):
    assert browser.get(route.format(number)).status_code == 404


@pytest.mark.parametrize("page", ["/received/", "/outbound/", "/audit/", "/tasks/", "/received/?q=x"])
@pytest.mark.parametrize("before", [HUGE, JUST_OVER, "-5", "x", "²"])
def test_a_pager_position_no_row_can_have_is_the_first_page(production_errors, browser, page, before):
    sep = "&" if "?" in page else "?"
    assert browser.get(f"{page}{sep}before={before}").status_code == 200


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01", "since=1899-12-31&until=9999-12-30"])
def test_dates_at_the_ends_of_the_calendar_are_ignored_filters(production_errors, browser, query):
    r = browser.get(f"/received/?{query}")
    assert r.status_code == 200 and "ignored" in r.get_data(as_text=True)


def test_a_raw_8bit_header_is_shown_decoded(production_errors, browser, receive):
    raw = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: caf\xe9 cr\xe8me\r\n"
           b"X-Note: na\xc3\xafve\r\nMessage-ID: <8bit@example.org>\r\n\r\nBody.\r\n")
    out = receive(raw)
    r = browser.get(f"/received/{out.id}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "café crème" in html  # not UTF-8: read as cp1252, like a body
    assert "naïve" in html  # UTF-8


@pytest.mark.parametrize("field,value", [("sender", "alice@example.org\nBcc: x@evil.example"),
                                         ("subject", "Hello\r\nX-Injected: 1"),
                                         ("subject", "Hello\n"),  # would end the header block early
                                         ("to", "bugs@reply.example.com\r\nX: y")])
def test_a_line_break_in_a_test_receiver_header_field_is_a_field_error(production_errors, browser, db,
                                                                         field, value):
    data = {"msg-sender": "alice@example.org", "msg-to": "bugs@reply.example.com", "msg-subject": "Hi",
            "msg-body": "x", "msg-send": "1"}
    data[f"msg-{field}"] = value
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data=data)
    assert r.status_code == 400 and "Must be one line." in r.get_data(as_text=True)
    with db.read() as s:
        assert s.scalars(select(ReceivedMessage)).first() is None


def _stored(db) -> dict:
    with db.read() as s:
        rec = s.scalars(select(ReceivedMessage).order_by(ReceivedMessage.id.desc())).first()
        return {"rcpt_to": rec.rcpt_to, "mail_from": rec.mail_from, "status": rec.status, "action": rec.action}


def test_the_test_receiver_passes_every_to_address_as_a_recipient(browser, db):
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-sender": "Alice <alice@example.org>", "msg-to": "carol@example.org, Bugs <bugs@reply.example.com>",
        "msg-subject": "Mixed", "msg-body": "x", "msg-send": "1"})
    assert r.status_code == 302
    rec = _stored(db)
    assert rec["rcpt_to"] == ["carol@example.org", "bugs@reply.example.com"]
    assert rec["mail_from"] == "alice@example.org"
    assert rec["status"] == "processed" and rec["action"] == "create"  # the foreign recipient is not ours, as at RCPT


@pytest.mark.parametrize("envelope_to,expected", [
    ("Bugs <bugs@reply.example.com>", ["bugs@reply.example.com"]),
    ("bugs@reply.example.com, other@example.org", ["bugs@reply.example.com", "other@example.org"]),
])
def test_the_upload_envelope_recipients_are_addresses(browser, db, mail, envelope_to, expected):
    r = browser.post("/test-receiver/upload", page="/test-receiver/", prefix="raw-", data={
        "raw-eml": (io.BytesIO(mail(subject="Uploaded")), "m.eml", "message/rfc822"),
        "raw-envelope_from": "Alice <alice@example.org>", "raw-envelope_to": envelope_to, "raw-upload": "1"},
        content_type="multipart/form-data")
    assert r.status_code == 302
    rec = _stored(db)
    assert rec["rcpt_to"] == expected and rec["mail_from"] == "alice@example.org" and rec["status"] == "processed"


def test_every_task_is_reachable_from_the_task_list(app, browser, receive, mail):
    for i in range(5):
        assert receive(mail(subject=f"Task number {i}")).status == "processed"
    app.config["MAILGATE_PAGE_SIZE"] = 2
    seen, url = [], "/tasks/"
    while url:
        html = browser.get(url).get_data(as_text=True)
        seen += __import__("re").findall(r">(T\d+)</a></td>", html)
        found = __import__("re").search(r'href="([^"]+)" rel="next"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == ["T5", "T4", "T3", "T2", "T1"]


@pytest.mark.parametrize("user", ["²", HUGE, "0", "x"])
def test_the_reply_helper_with_a_user_no_row_can_have_is_a_field_error(production_errors, browser, receive, mail,
                                                                       user):
    receive(mail(subject="A task"))
    r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-task": "T1", "msg-user": user, "msg-fill_reply": "1"})
    assert r.status_code == 400 and "Name an existing task" in r.get_data(as_text=True)
