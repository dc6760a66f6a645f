"""Sender authentication of mail that came through a provider's webhook: the provider is not the sender's MTA.

The HTTP client of a webhook is the provider's server (SendGrid, Mailgun,
Postmark), and many domains list those very servers in their SPF record
(`include:sendgrid.net`). SPF of the HTTP client's address would make a
forged From pass; only what the message itself carries (DKIM) may count.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from mailgate.ingress.web.app import create_app
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
