"""The pure rules under the API mailers: HTTP answers to outcomes, fields read back, the threading fallback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from mailgate.shared.outbound import mime_fields
from mailgate.shared.outbound.failures import (CredentialsRefused, PermanentFailure, RateLimited,
                                               TemporaryFailure)
from mailgate.shared.outbound.http_answers import failure_for, retry_after_seconds
from mailgate.shared.outbound.render import Outgoing, render, render_bytes


@pytest.mark.parametrize("status, kind", [
    (200, None), (202, None), (401, CredentialsRefused), (403, CredentialsRefused), (429, RateLimited),
    (400, PermanentFailure), (404, PermanentFailure), (413, PermanentFailure), (422, PermanentFailure),
    (408, TemporaryFailure), (500, TemporaryFailure), (502, TemporaryFailure), (503, TemporaryFailure),
    (302, TemporaryFailure),
])
def test_http_status_to_outcome(status, kind):
    failure = failure_for(status, "the service's words", "svc")
    if kind is None:
        assert failure is None
    else:
        assert type(failure) is kind and f"svc: HTTP {status}: the service's words" == str(failure)


def test_retry_after_in_seconds_or_as_a_date():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None
    assert failure_for(429, "", "svc", "5").retry_after == 5.0
    assert failure_for(429, "", "svc", None).retry_after == 60.0  # no usable Retry-After
    assert failure_for(429, "", "svc", "999999").retry_after == 3600.0  # capped


def _out(**kw) -> Outgoing:
    base = dict(id=1, sender="noreply@reply.example.com", recipient="bob@example.org",
                reply_to="T7+2+0123456789abcdef@reply.example.com", subject="[T7] Ünicode — and a long subject "
                "that has to be folded because it goes on and on past seventy-eight columns",
                message_id="mailgate.t7.aa1@reply.example.com",
                headers={"Auto-Submitted": "auto-generated", "X-Mailgate-Task": "T7"},
                body_text="Bonjour — ça va?\n", body_html="<p>Bonjour — ça va?</p>")
    base.update(kw)
    return Outgoing(**base)


def test_fields_read_back_are_the_rendered_values():
    out = _out(headers={"Auto-Submitted": "auto-generated", "X-Mailgate-Task": "T7",
                        "References": " ".join(f"<id{i}@example.org>" for i in range(8)),
                        "In-Reply-To": "<id7@example.org>"})
    f = mime_fields.read(render_bytes(out))
    assert f.subject == out.subject and f.reply_to == out.reply_to and f.to == "bob@example.org"
    assert f.sender == "Mailgate <noreply@reply.example.com>"
    assert f.sender_address == ("Mailgate", "noreply@reply.example.com")
    assert f.text == "Bonjour — ça va?\n" and f.html == "<p>Bonjour — ça va?</p>\n"
    headers = dict(f.headers)
    assert headers["References"] == out.headers["References"]  # folded on the wire, one line here
    assert headers["Message-ID"] == "<mailgate.t7.aa1@reply.example.com>"
    assert set(headers) == {"Message-ID", "Auto-Submitted", "X-Mailgate-Task", "References", "In-Reply-To"}


def test_threading_fallback_for_the_root_and_later_notifications():
    root = _out()
    sent = render(root)
    assert sent["Message-ID"] == "<mailgate.t7.aa1@reply.example.com>" and "References" not in sent
    got = dict(mime_fields.read(render_bytes(root, keep_message_id=False)).headers)
    assert "Message-ID" not in got
    assert got["References"] == got["In-Reply-To"] == "<mailgate.t7.aa1@reply.example.com>"

    by_mail = _out(headers={"X-Mailgate-Task": "T7", "References": "<opened@example.org>",
                            "In-Reply-To": "<opened@example.org>"})
    got = dict(mime_fields.read(render_bytes(by_mail, keep_message_id=False)).headers)
    assert got["References"] == "<mailgate.t7.aa1@reply.example.com> <opened@example.org>"
    assert got["In-Reply-To"] == "<opened@example.org>"

    later = _out(message_id="mailgate.t7.bb2@reply.example.com",
                 headers={"X-Mailgate-Task": "T7", "References": "<mailgate.t7.aa1@reply.example.com> <r@example.org>",
                          "In-Reply-To": "<r@example.org>"})
    got = dict(mime_fields.read(render_bytes(later, keep_message_id=False)).headers)
    assert got["References"] == "<mailgate.t7.aa1@reply.example.com> <r@example.org>"
    assert got["In-Reply-To"] == "<r@example.org>" and "Message-ID" not in got

    test_message = _out(headers={"Auto-Submitted": "auto-generated"})  # send-test: no task, nothing to thread
    got = dict(mime_fields.read(render_bytes(test_message, keep_message_id=False)).headers)
    assert "References" not in got and "Message-ID" not in got
