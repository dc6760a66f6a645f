"""The inbound webhooks as each provider calls them (tests/ingress/providers.py cites the documentation)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from mailgate.ingress import refusals
from mailgate.ingress.web.app import create_app
from mailgate.shared.config import from_env
from mailgate.shared.models import ReceivedMessage

from ..conftest import REPLY_DOMAIN, make_mail
from .providers import POSTMARK_IP, mailgun_form, postmark_payload, sendgrid_form

MAILERS = [
    {"key": "test", "type": "test"},
    {"key": "pm", "type": "postmark", "options": {"access-token": "pm-token", "inbound-user": "pmuser",
                                                   "inbound-password": "pm secret"}},
    {"key": "mg", "type": "mailgun", "options": {"api-key": "key-api", "domain": "mg.example.net",
                                                 "signing-key": "sign-key"}},
    {"key": "mg-old", "type": "mailgun", "options": {"api-key": "old-api-key", "domain": "old.example.net"}},
    {"key": "sg", "type": "sendgrid", "options": {"api-key": "SG.key", "inbound-user": "sguser",
                                                  "inbound-password": "sg secret"}},
]
PM_AUTH = ("pmuser", "pm secret")
SG_AUTH = ("sguser", "sg secret")


@pytest.fixture
def settings(env):
    return from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS)})


@pytest.fixture
def client(settings, db):
    return create_app(settings, db).test_client()


def rows(db) -> list[SimpleNamespace]:
    table = ReceivedMessage.__table__
    with db.read() as s:
        return [SimpleNamespace(**r._mapping) for r in s.execute(select(table).order_by(table.c.id))]


def refused(db) -> dict[tuple[str, str], int]:
    return {(r["source"], r["reason"]): r["count"] for r in refusals.counts(db)}


def postmark(client, payload, *, ip=POSTMARK_IP, auth=PM_AUTH, **kw):
    return client.post("/mail/postmark/", json=payload, auth=auth, environ_base={"REMOTE_ADDR": ip}, **kw)


# --- Postmark --------------------------------------------------------------------------------

def test_postmark_reply_becomes_a_comment(client, db, seed, task_with_reply):
    task, reply_to = task_with_reply
    raw = make_mail(sender="bob@example.org", to="Bob's tasks <other@inbound.postmarkapp.com>", body="Done.\n!close\n")
    answer = postmark(client, postmark_payload(raw, reply_to))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rec = rows(db)[-1]
    assert (rec.source, rec.status, rec.action, rec.object_ref, rec.actor) == ("postmark", "processed", "comment", task, "bob")
    assert rec.rcpt_to == [reply_to] and rec.client_addr == POSTMARK_IP and rec.queue_id == "postmark:pm"
    assert answer.get_json() == {"id": rec.id, "status": "processed"}


def test_postmark_from_a_wrong_address_is_refused_and_counted(client, db, seed):
    payload = postmark_payload(make_mail(), f"bugs@{REPLY_DOMAIN}")
    assert postmark(client, payload, ip="127.0.0.1").status_code == 403
    # A forged X-Forwarded-For is not believed without MAILGATE_TRUSTED_PROXIES.
    spoofed = postmark(client, payload, ip="127.0.0.1", headers={"X-Forwarded-For": POSTMARK_IP})
    assert spoofed.status_code == 403
    assert rows(db) == [] and refused(db) == {("postmark", "forbidden_source"): 2}


def test_postmark_basic_auth_is_required_when_set(client, db, seed):
    payload = postmark_payload(make_mail(), f"bugs@{REPLY_DOMAIN}")
    missing = postmark(client, payload, auth=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Basic")
    assert postmark(client, payload, auth=("pmuser", "guess")).status_code == 401
    assert rows(db) == [] and refused(db) == {("postmark", "unauthenticated"): 2}


def test_postmark_without_raw_email_is_malformed_and_not_retried(client, db, seed, caplog):
    answer = postmark(client, postmark_payload(make_mail(), f"bugs@{REPLY_DOMAIN}", raw_email=False))
    assert answer.status_code == 403  # Postmark stops retrying on 403 only: the same post would fail again
    assert "Include raw email content" in caplog.text
    not_json = postmark(client, None, data=b"{not json", content_type="application/json")
    assert not_json.status_code == 403
    assert rows(db) == [] and refused(db) == {("postmark", "malformed"): 2}


# --- Mailgun ---------------------------------------------------------------------------------

def test_mailgun_opens_a_task_with_the_envelope_sender(client, db, seed):
    form = mailgun_form(make_mail(subject="Lift stuck"), f"bugs@{REPLY_DOMAIN}", "sign-key")
    answer = client.post("/mail/mailgun/", data=form)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rec = rows(db)[-1]
    assert (rec.source, rec.status, rec.action, rec.mail_from, rec.queue_id) == (
        "mailgun", "processed", "create", "alice@example.org", "mailgun:mg")


def test_mailgun_api_key_signs_when_no_signing_key_is_set(client, db, seed):
    assert client.post("/mail/mailgun/", data=mailgun_form(make_mail(), f"bugs@{REPLY_DOMAIN}",
                                                           "old-api-key")).status_code == 200
    # The entry with a signing key does not accept its api-key instead.
    assert client.post("/mail/mailgun/", data=mailgun_form(make_mail(), f"bugs@{REPLY_DOMAIN}",
                                                           "key-api")).status_code == 401


def test_mailgun_forged_stale_and_replayed_requests_are_refused(client, db, seed):
    form = mailgun_form(make_mail(), f"bugs@{REPLY_DOMAIN}", "sign-key")
    forged = dict(form, signature=form["signature"][:-1] + ("0" if form["signature"][-1] != "0" else "1"))
    assert client.post("/mail/mailgun/", data=forged).status_code == 401
    tampered = dict(form, timestamp=str(int(form["timestamp"]) + 1))  # signature no longer covers it
    assert client.post("/mail/mailgun/", data=tampered).status_code == 401
    import time

    stale = mailgun_form(make_mail(), f"bugs@{REPLY_DOMAIN}", "sign-key", timestamp=int(time.time()) - 301)
    assert client.post("/mail/mailgun/", data=stale).status_code == 401
    assert client.post("/mail/mailgun/", data=form).status_code == 200
    replay = client.post("/mail/mailgun/", data=form)
    assert replay.status_code == 406  # Mailgun's "rejected, do not retry"
    assert len(rows(db)) == 1
    assert refused(db) == {("mailgun", "bad_signature"): 2, ("mailgun", "stale_signature"): 1,
                           ("mailgun", "replayed"): 1}


def test_mailgun_without_body_mime_is_malformed(client, db, seed):
    form = mailgun_form(make_mail(), f"bugs@{REPLY_DOMAIN}", "sign-key")
    del form["body-mime"]
    form["body-plain"] = "parsed fields only: the route does not end in 'mime'"
    assert client.post("/mail/mailgun/", data=form).status_code == 406
    assert rows(db) == []


# --- SendGrid --------------------------------------------------------------------------------

def test_sendgrid_envelope_routes_not_the_headers(client, db, seed):
    raw = make_mail(to="team-list@elsewhere.example", subject="Via a list")
    answer = client.post("/mail/sendgrid/", data=sendgrid_form(raw, [f"bugs@{REPLY_DOMAIN}"]), auth=SG_AUTH,
                         content_type="multipart/form-data")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rec = rows(db)[-1]
    assert (rec.source, rec.status, rec.action, rec.rcpt_to) == ("sendgrid", "processed", "create", [f"bugs@{REPLY_DOMAIN}"])


def test_sendgrid_needs_its_credentials(client, db, seed):
    form = sendgrid_form(make_mail(), [f"bugs@{REPLY_DOMAIN}"])
    assert client.post("/mail/sendgrid/", data=form, content_type="multipart/form-data").status_code == 401
    assert client.post("/mail/sendgrid/", data=form, auth=("sguser", "nope"),
                       content_type="multipart/form-data").status_code == 401
    assert rows(db) == []


def test_sendgrid_bad_envelope_is_malformed(client, db, seed):
    form = dict(sendgrid_form(make_mail(), [f"bugs@{REPLY_DOMAIN}"]), envelope='{"to": "not a list"}')
    assert client.post("/mail/sendgrid/", data=form, auth=SG_AUTH,
                       content_type="multipart/form-data").status_code == 400
    assert rows(db) == [] and refused(db) == {("sendgrid", "malformed"): 1}


# --- all of them -----------------------------------------------------------------------------

def test_a_bad_address_is_stored_rejected_and_answered_200(client, db, seed):
    """No RCPT stage to refuse at: the message is recorded rejected, and nobody is ever sent a bounce."""
    raw = make_mail(to=f"nobody@{REPLY_DOMAIN}")
    answer = client.post("/mail/sendgrid/", data=sendgrid_form(raw, [f"nobody@{REPLY_DOMAIN}"]), auth=SG_AUTH,
                         content_type="multipart/form-data")
    assert answer.status_code == 200 and answer.get_json()["status"] == "rejected"
    assert (rows(db)[-1].status, rows(db)[-1].reason) == ("rejected", "unknown_recipient")


def test_sizes_the_request_limit_and_the_message_limit(env, db, seed):
    settings = from_env({**env, "MAILGATE_MAILERS": json.dumps(MAILERS), "MAILGATE_MAX_MESSAGE_BYTES": "4096"})
    client = create_app(settings, db).test_client()
    big = make_mail(body="y" * 20_000)  # over the message limit, under the request limit: stored too_large
    answer = client.post("/mail/sendgrid/", data=sendgrid_form(big, [f"bugs@{REPLY_DOMAIN}"]), auth=SG_AUTH,
                         content_type="multipart/form-data")
    assert answer.status_code == 200 and (rows(db)[-1].status, rows(db)[-1].reason) == ("rejected", "too_large")
    huge = make_mail(body="z" * (2 * 1024 * 1024))  # over the request limit: refused before it is read
    for url, kw in (("/mail/sendgrid/", dict(auth=SG_AUTH, content_type="multipart/form-data",
                                             data=sendgrid_form(huge, [f"bugs@{REPLY_DOMAIN}"]))),
                    ("/mail/mailgun/", dict(data=mailgun_form(huge, f"bugs@{REPLY_DOMAIN}", "sign-key")))):
        assert client.post(url, **kw).status_code == (413 if "sendgrid" in url else 406)
    assert len(rows(db)) == 1
    assert refused(db) == {("sendgrid", "too_large"): 1, ("mailgun", "too_large"): 1}


def test_only_the_webhooks_are_served(client, db):
    assert client.get("/mail/postmark/").status_code == 405
    for path in ("/", "/login", "/received/", "/mail/smtp/"):
        assert client.get(path).status_code == 404 and client.post(path).status_code in (404, 405)
    assert "Set-Cookie" not in client.get("/").headers


def test_a_provider_without_an_entry_is_not_configured(env, db, seed):
    client = create_app(from_env(env), db).test_client()  # only the "test" mailer
    form = sendgrid_form(make_mail(), [f"bugs@{REPLY_DOMAIN}"])
    assert client.post("/mail/sendgrid/", data=form, auth=SG_AUTH,
                       content_type="multipart/form-data").status_code == 404
    assert refused(db) == {("sendgrid", "not_configured"): 1}


def test_check_says_what_each_webhook_lets_in(settings, env):
    from mailgate.ingress.web.health import run_checks

    checks = {c.name: c for c in run_checks(settings)}
    assert set(checks) == {"webhook postmark", "webhook mailgun", "webhook sendgrid"}
    assert all(c.ok for c in checks.values())
    assert "pm: from 4 address range(s), Basic auth" in checks["webhook postmark"].detail
    assert "sign-key" not in str(checks) and "pm secret" not in str(checks) and "sg secret" not in str(checks)
    broken = [{"key": "pm", "type": "postmark", "options": {"access-token": "t", "inbound-addresses": []}},
              {"key": "sg", "type": "sendgrid", "options": {"api-key": "k"}}]
    bad = {c.name: c for c in run_checks(from_env({**env, "MAILGATE_MAILERS": json.dumps(broken)}))}
    assert not bad["webhook postmark"].ok and "every request is refused" in bad["webhook postmark"].detail
    assert not bad["webhook sendgrid"].ok and "inbound-user" in bad["webhook sendgrid"].fix
    assert run_checks(from_env(env)) == []  # no webhook configured: no lines
