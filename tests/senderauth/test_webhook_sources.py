"""Sender authentication of mail that came through a provider's webhook: the provider is not the sender's MTA.

The HTTP client of a webhook is the provider's server (SendGrid, Mailgun,
Postmark), and many domains list those very servers in their SPF record
(`include:sendgrid.net`). SPF of the HTTP client's address would make a
forged From pass; only what the message itself carries (DKIM) may count.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from mailgate.ingress.web.app import create_app
from mailgate.shared.batching import Batcher
from mailgate.shared.config import from_env
from mailgate.shared.models import ReceivedMessage

from ..conftest import make_mail
from ..ingress.providers import sendgrid_form
from ..ingress.test_webhooks import MAILERS, SG_AUTH


@pytest.fixture
def webhook(env, db):
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_SENDER_AUTH": "require"})
    return create_app(settings, db).test_client()


def _last(db) -> dict:
    table = ReceivedMessage.__table__
    with db.read() as s:
        return dict(s.execute(select(table).order_by(table.c.id.desc())).first()._mapping)


def test_spf_of_the_providers_address_does_not_authenticate_a_forged_from(webhook, db, people):
    """The test client posts from 127.0.0.1, which pass.test's SPF lists, as a victim's SPF lists SendGrid."""
    raw = make_mail(sender="demo@pass.test", to=people, subject="Wire the money")
    form = sendgrid_form(raw, [people])
    form["envelope"] = json.dumps({"to": [people], "from": "mallory@pass.test"})
    assert webhook.post("/mail/sendgrid/", data=form, auth=SG_AUTH).status_code == 200
    rec = _last(db)
    assert rec["auth"]["spf"] == "none"
    assert (rec["status"], rec["reason"], rec["actor"]) == ("rejected", "unauthenticated_sender", None)


def test_a_dkim_signature_still_authenticates_webhook_mail(webhook, db, people, zones):
    raw = zones.signers["pass.test"].sign(make_mail(sender="demo@pass.test", to=people, subject="Signed"))
    assert webhook.post("/mail/sendgrid/", data=sendgrid_form(raw, [people]), auth=SG_AUTH).status_code == 200
    rec = _last(db)
    assert (rec["auth"]["verdict"], rec["status"], rec["actor"]) == ("pass", "processed", "demo")


def test_an_authentication_results_header_with_our_id_in_webhook_mail_is_not_believed(env, db, people):
    """Our MTA never saw webhook mail: a header with our authserv-id in it was written by someone else,
    even at the very top of a message that carries no Received header."""
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_SENDER_AUTH": "require",
                         "MAILGATE_AUTHSERV_ID": "mx.reply.example.com"})
    webhook = create_app(settings, db).test_client()
    raw = (b"Authentication-Results: mx.reply.example.com; spf=pass smtp.mailfrom=demo@pass.test;\n"
           b" dkim=pass header.d=pass.test; dmarc=pass header.from=pass.test\n"
           + make_mail(sender="demo@pass.test", to=people, subject="Believe me"))
    assert webhook.post("/mail/sendgrid/", data=sendgrid_form(raw, [people]), auth=SG_AUTH).status_code == 200
    rec = _last(db)
    assert rec["auth"]["source"] == "verified"
    assert (rec["status"], rec["reason"]) == ("rejected", "unauthenticated_sender")


def test_a_sender_whose_dns_does_not_answer_holds_up_no_other_webhook(env, db, people):
    """Verification runs in the request's thread, not in the writer that stores every webhook's mail."""
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_DNS_TIMEOUT": "2"})
    batcher = Batcher(db, settings)
    webhook = create_app(settings, db, receive=batcher.receive).test_client()
    slow = (b"DKIM-Signature: v=1; a=rsa-sha256; d=slow.test; s=sel; h=from; bh=AAAA; b=AAAA\n"
            + make_mail(sender="someone@slow.test", to=people, subject="Slow DNS"))
    quick = make_mail(sender="pat@nodmarc.test", to=people, subject="Quick")
    answers = {}

    def post(name, raw):
        started = time.monotonic()
        status = webhook.post("/mail/sendgrid/", data=sendgrid_form(raw, [people]), auth=SG_AUTH).status_code
        answers[name] = (status, time.monotonic() - started)

    try:
        first = threading.Thread(target=post, args=("slow", slow))
        first.start()
        time.sleep(0.3)  # the slow one is being verified
        post("quick", quick)
        first.join(30)
    finally:
        batcher.stop()
    assert answers["slow"][0] == answers["quick"][0] == 200
    assert answers["slow"][1] >= 2  # its key and DMARC look-ups timed out
    assert answers["quick"][1] < 1.5, answers


def test_an_address_that_requires_sender_auth_is_verified_outside_the_writer_too(env, db, people):
    """MAILGATE_SENDER_AUTH off, the create address `require`: still verified in the request's thread."""
    from mailgate.shared import directory

    with db.transaction() as s:
        directory.set_sender_auth(s, people, "require", actor="test")
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_DNS_TIMEOUT": "2",
                         "MAILGATE_SENDER_AUTH": "off"})
    batcher = Batcher(db, settings)
    webhook = create_app(settings, db, receive=batcher.receive).test_client()
    slow = make_mail(sender="someone@slow.test", to=people, subject="Slow DNS")
    quick = make_mail(sender="pat@elsewhere.example", to="someone@elsewhere.example", subject="Not for an address")
    answers = {}

    def post(name, raw, to):
        started = time.monotonic()
        status = webhook.post("/mail/sendgrid/", data=sendgrid_form(raw, [to]), auth=SG_AUTH).status_code
        answers[name] = (status, time.monotonic() - started)

    try:
        first = threading.Thread(target=post, args=("slow", slow, people))
        first.start()
        time.sleep(0.3)
        post("quick", quick, "nobody@reply.example.com")
        first.join(30)
    finally:
        batcher.stop()
    assert answers["slow"][0] == 503  # require, and DNS did not answer: the provider retries
    assert answers["quick"][0] == 200 and answers["quick"][1] < 1.5, answers


def test_a_message_over_the_size_limit_is_stored_too_large_without_being_verified(env, db, people, zones):
    """It is refused for its size whatever its sender: five DKIM body hashes over it would only cost CPU."""
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_MAX_MESSAGE_BYTES": "65536"})
    webhook = create_app(settings, db).test_client()
    raw = make_mail(sender="demo@pass.test", to=people, subject="Big", body="word " * 60_000)
    for _ in range(5):
        raw = zones.signers["pass.test"].sign(raw)
    assert webhook.post("/mail/sendgrid/", data=sendgrid_form(raw, [people]), auth=SG_AUTH).status_code == 200
    rec = _last(db)
    assert (rec["status"], rec["reason"], rec["auth"]) == ("rejected", "too_large", None)
