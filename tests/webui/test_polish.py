"""Small console things an operator tripped over (issue 15, item 9)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from mailgate.shared.db import utcnow
from mailgate.shared.models import ReceivedMessage
from mailgate.webui.filters import age, when


def test_one_second_is_singular():
    assert age(utcnow() - timedelta(seconds=1)) == "1 second ago"
    assert age(utcnow() - timedelta(seconds=5)) == "5 seconds ago"
    assert age(utcnow() - timedelta(minutes=1, seconds=3)) == "1 minute ago"


def test_task_comments_show_times_as_the_rest_of_the_console(browser, task_with_reply, receive, mail):
    ref, addr = task_with_reply
    receive(mail(sender="bob@example.org", to=addr, subject="Re: x", body="On it.\n"), to=(addr,))
    page = browser.get(f"/tasks/{ref}").get_data(as_text=True)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", page), "raw ISO timestamp on the task page"
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    assert when("2026-12-06T18:22:36Z") == "2026-12-06 18:22:36 UTC"


def test_test_receiver_refuses_an_invalid_to_as_a_form_error(browser, db):
    for bad in ("not an address", "bob@", "bugs@reply.example.com, garbage"):
        r = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
            "msg-sender": "alice@example.org", "msg-to": bad, "msg-subject": "Hi", "msg-body": "x", "msg-send": "1"})
        assert r.status_code == 400, bad
        assert "Not an email address" in r.get_data(as_text=True)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedMessage)) == 0  # nothing stored
    ok = browser.post("/test-receiver/send", page="/test-receiver/", prefix="msg-", data={
        "msg-sender": "alice@example.org", "msg-to": "Bugs <bugs@reply.example.com>", "msg-subject": "Hi",
        "msg-body": "x", "msg-send": "1"})
    assert ok.status_code == 302


def test_the_search_hint_says_what_a_word_finds(browser, receive, mail):
    receive(mail(subject="Printer on fire"))
    page = browser.get("/received/?q=prin").get_data(as_text=True)
    assert "word beginnings" not in page  # it promised that `prin` finds "printer"
    assert "<code>prin*</code> finds" in page
    assert "Printer on fire" in browser.get("/received/?q=prin*").get_data(as_text=True)
