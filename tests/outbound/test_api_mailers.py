"""Postmark, Mailgun, SendGrid and SES mailers against local stand-ins written from their API references.

Each stand-in (tests/support/api_standins.py) checks the request as its
service documents it and records anything the service would refuse in
`problems`; every test here ends with that list empty.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from click.testing import CliRunner
from email.utils import make_msgid
from sqlalchemy import select

from mailgate.shared.config import MailerConfig
from mailgate.shared.db import utcnow
from mailgate.shared.guard import OWN_MAIL_HEADER
from mailgate.shared.mailer_config import fingerprint
from mailgate.shared.models import OutboundMessage, ReceivedMessage, Task
from mailgate.shared.outbound import health as outbound_health
from mailgate.shared.outbound.mailers import build
from mailgate.shared.outbound.worker import Worker
from mailgate.webui.cli import main

from ..support.api_standins import STANDINS
from .conftest import outbound_rows as _rows, with_mailers

KINDS = ["postmark", "mailgun", "sendgrid", "ses"]


def options_for(kind: str, standin, **extra) -> dict:
    creds = {"postmark": {"access-token": "pm-server-token"},
             "mailgun": {"api-key": "key-mailgun", "domain": "mg.example.com"},
             "sendgrid": {"api-key": "SG.sendgrid-key"},
             "ses": {"access-key": "AKIDEXAMPLE", "secret-key": "ses-secret-key", "region": "eu-west-1"}}[kind]
    return {**creds, "endpoint": standin.url, "timeout": 5, **extra}


def api_mailer(kind: str, standin, key: str | None = None, priority: int | None = None,
               message_id: bool | None = None, **extra) -> MailerConfig:
    keeps = (kind != "ses") if message_id is None else message_id
    return MailerConfig(key=key or kind, type=kind, priority=priority, options=options_for(kind, standin, **extra),
                        message_id=keeps)


@pytest.fixture
def standin(request):
    s = STANDINS[request.param]().start()
    try:
        yield s
    finally:
        s.stop()


def carried(kind: str, request) -> dict[str, str]:
    """The headers a request carried, as name -> value, whatever field the API puts them in."""
    p = request.parsed
    if kind == "postmark":
        got = {h["Name"]: h["Value"] for h in p.get("Headers", [])}
        got.update({"From": p["From"], "To": p["To"], "Subject": p["Subject"], "Reply-To": p.get("ReplyTo", "")})
        return got
    if kind == "sendgrid":
        got = dict(p.get("headers", {}))
        sender = p["from"]
        got.update({"From": f"{sender.get('name')} <{sender['email']}>", "Subject": p["subject"],
                    "To": ", ".join(a["email"] for a in p["personalizations"][0]["to"]),
                    "Reply-To": p.get("reply_to", {}).get("email", "")})
        return got
    raw = p["message"][0] if kind == "mailgun" else p["raw"]
    msg = message_from_bytes(raw, policy=default_policy)
    return {name: str(value) for name, value in msg.items()}


def _thread(db, ref):
    with db.read() as s:
        return s.get(Task, int(ref[1:])).thread_id


@pytest.mark.parametrize("standin", KINDS, indirect=True)
def test_a_notification_carries_every_header_mailgate_sets(db, settings, seed, standin, task_with_reply, receive, mail):
    kind = standin.name
    ref, bob_reply = task_with_reply
    settings = with_mailers(settings, api_mailer(kind, standin, message_id=True))
    assert Worker(db, settings).run_once().sent == 1
    (root,) = standin.sent
    got = carried(kind, root)
    thread = _thread(db, ref)
    assert got["Message-ID"] == f"<{thread}>"
    assert got["Reply-To"] == bob_reply
    assert got["Auto-Submitted"] == "auto-generated" and got["X-Auto-Response-Suppress"] == "All"
    assert got[OWN_MAIL_HEADER] == f"created {ref}" and got["X-Mailgate-Task"] == ref
    assert got["To"] == "bob@example.org" and got["Subject"] == f"[{ref}] Printer on fire"
    assert got["From"] == f"Mailgate <{settings.from_address}>"

    bob_mid = make_msgid(domain="example.org")
    out = receive(mail(sender="bob@example.org", to=bob_reply, subject=f"Re: [{ref}] Printer on fire",
                       body="On its way.", msgid=bob_mid, headers={"In-Reply-To": f"<{thread}>"}))
    assert out.action == "comment"
    assert Worker(db, settings).run_once().sent == 1  # alice
    got = carried(kind, standin.sent[1])
    assert got["In-Reply-To"] == bob_mid and got["References"] == f"<{thread}> {bob_mid}"
    assert got["Reply-To"] == seed.reply_address(ref, seed.alice)
    assert [r.status for r in _rows(db)] == ["sent", "sent"] and _rows(db)[0].mailer == kind
    assert standin.problems == []


@pytest.mark.parametrize("standin", ["mailgun", "ses"], indirect=True)
def test_raw_types_carry_the_mime_byte_for_byte(standin):
    kind = standin.name
    data = (b"From: Mailgate <noreply@reply.example.com>\r\nTo: bob@example.org\r\nSubject: hi\r\n"
            b"Message-ID: <mailgate.t1.1@reply.example.com>\r\nReferences: <a@x> <b@y>\r\n"
            b"In-Reply-To: <b@y>\r\nReply-To: T1+2+0123456789abcdef@reply.example.com\r\n"
            b"Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"caf=C3=A9\r\n.\r\n")
    [m] = build([api_mailer(kind, standin)])
    try:
        note = m.send("noreply@reply.example.com", ["bob@example.org", "carol@example.org"], data)
    finally:
        m.close()
    (req,) = standin.sent
    if kind == "mailgun":
        assert req.parsed["message"] == [data] and req.parsed["to"] == ["bob@example.org", "carol@example.org"]
        assert note.startswith("Mailgun id <")
    else:
        assert req.parsed["raw"] == data and req.parsed["to"] == ["bob@example.org", "carol@example.org"]
        assert req.parsed["from"] == "noreply@reply.example.com" and note.startswith("SES MessageId ")
    assert standin.problems == []


@pytest.mark.parametrize("standin", KINDS, indirect=True)
@pytest.mark.parametrize("mode", ["reject", "rate", "error", "hang", "unauthorized"])
def test_answers_map_to_the_queue_outcomes(db, settings, standin, task_with_reply, mode, caplog):
    kind = standin.name
    standin.mode = mode
    standin.retry_after = "300"
    settings = with_mailers(settings, api_mailer(kind, standin, timeout=0.5))
    worker = Worker(db, settings)
    before = utcnow()
    with caplog.at_level(logging.INFO):
        worker.run_once()
    (row,) = _rows(db)
    if mode == "reject":  # the message itself: failed at once, in the service's own words
        assert row.status == "failed" and row.mailer == kind
        said = {"postmark": "ErrorCode 406: You tried to send to recipient(s) that have been marked as inactive",
                "mailgun": "'to' parameter is not a valid address", "sendgrid": "Does not contain a valid address.",
                "ses": "MessageRejected: Email address is not verified"}[kind]
        assert said in row.status_reason and "HTTP 4" in row.last_error
    else:  # temporary: the row waits for a retry
        assert row.status == "queued" and row.attempts == 1 and row.next_attempt_at > before
    if mode == "rate":  # Retry-After 300 s beats the first backoff (1 min), and the mailer is skipped meanwhile
        assert row.next_attempt_at >= before + timedelta(seconds=299) and "HTTP 429" in row.last_error
        assert worker.down_report()[kind]["kind"] == "rate_limited"
    if mode == "error":
        assert "HTTP 500" in row.last_error and kind not in worker.down_report()
    if mode == "hang":
        assert "no answer within 0.5 s" in row.last_error
        assert worker.down_report()[kind]["kind"] == "unreachable"
    if mode == "unauthorized":
        assert ("HTTP 403" if kind == "ses" else "HTTP 401") in row.last_error
        assert worker.down_report()[kind]["kind"] == "credentials"
    sends = [r for r in standin.requests if r.method == "POST"]
    assert len(sends) == 1  # one attempt per mailer: no retry hidden inside a client or SDK
    secret = options_for(kind, standin).get("access-token") or options_for(kind, standin).get("api-key") or "ses-secret-key"
    assert secret not in (row.last_error or "") and secret not in caplog.text
    assert standin.problems == []


@pytest.mark.parametrize("standin", ["postmark"], indirect=True)
@pytest.mark.parametrize("mode", ["unauthorized", "error", "hang"])
def test_failover_from_postmark_to_smtp(db, settings, standin, sink, task_with_reply, mode):
    standin.mode = mode
    settings = with_mailers(settings, api_mailer("postmark", standin, priority=10, timeout=0.5),
                            sink.mailer(priority=1))
    assert Worker(db, settings).run_once().sent == 1
    (row,) = _rows(db)
    assert row.status == "sent" and row.mailer == "sink" and row.last_error.startswith("postmark: postmark http")
    assert len(sink.handler.messages) == 1 and standin.sent == []


@pytest.mark.parametrize("standin", ["postmark"], indirect=True)
def test_refused_credentials_show_in_check(db, settings, standin, task_with_reply, sink):
    standin.mode = "unauthorized"
    config = api_mailer("postmark", standin, priority=10)
    settings = with_mailers(settings, config, sink.mailer(priority=1))
    Worker(db, settings).run_once()  # postmark refused: the worker notes it in its heartbeat at once
    checks = {c.name: c for c in outbound_health.check_mailers(settings, db=db)}
    pm = checks["mailer postmark (postmark)"]
    assert not pm.ok and "skips it until" in pm.detail and "HTTP 401" in pm.detail
    assert "pm-server-token" not in pm.detail and config.secret_fingerprints()["access-token"] in pm.detail
    assert checks["mailer sink (smtp)"].ok

    standin.mode = "ok"  # the probe alone now passes, but the worker's view still stands until it retries
    check = outbound_health.check_api_mailer(config)
    assert check.ok and "accepts the token" in check.detail and "pm-server-token" not in check.detail


@pytest.mark.parametrize("standin", KINDS, indirect=True)
def test_check_makes_a_harmless_authenticated_call(standin):
    kind = standin.name
    good = api_mailer(kind, standin)
    check = outbound_health.check_api_mailer(good)
    assert check.ok, check.detail
    assert standin.sent == [] and all(r.method == "GET" for r in standin.requests)
    wrong = {"postmark": {"access-token": "zz9-wrong"}, "mailgun": {"api-key": "zz9-wrong"},
             "sendgrid": {"api-key": "zz9-wrong"}, "ses": {"secret-key": "zz9-wrong"}}[kind]
    bad = MailerConfig(key="bad", type=kind, options={**good.options, **wrong})
    check = outbound_health.check_api_mailer(bad)
    assert not check.ok and "zz9-wrong" not in check.detail and "fingerprint" in check.fix
    if kind == "ses":
        standin.problems.clear()  # the wrong secret is a signature mismatch, which the stand-in notes
    assert standin.problems == []


@pytest.mark.parametrize("standin", ["postmark"], indirect=True)
def test_without_message_id_the_thread_is_carried_by_references(db, settings, seed, standin, task_with_reply,
                                                                 receive, mail):
    ref, bob_reply = task_with_reply
    settings = with_mailers(settings, api_mailer("postmark", standin, message_id=False))
    Worker(db, settings).run_once()
    thread = _thread(db, ref)
    with db.read() as s:
        created_by = s.scalars(select(ReceivedMessage.message_id).order_by(ReceivedMessage.id)).first()
    root = carried("postmark", standin.sent[0])
    assert "Message-ID" not in root  # the service picks its own
    # The thread id first, then the mail that opened the task, the direct parent.
    assert root["References"] == f"<{thread}> <{created_by}>" and root["In-Reply-To"] == f"<{created_by}>"
    bob_mid = make_msgid(domain="example.org")
    receive(mail(sender="bob@example.org", to=bob_reply, subject="Re: x", body="ok", msgid=bob_mid))
    Worker(db, settings).run_once()
    later = carried("postmark", standin.sent[1])
    assert "Message-ID" not in later
    assert later["References"] == f"<{thread}> {bob_mid}" and later["In-Reply-To"] == bob_mid
    assert standin.problems == []


@pytest.mark.parametrize("standin", KINDS, indirect=True)
def test_send_test_works_for_every_type(env, db, standin):
    kind = standin.name
    entry = {"key": f"my-{kind}", "type": kind, "options": options_for(kind, standin)}
    cli_env = {**env, "MAILGATE_MAILERS": json.dumps([{"key": "test", "type": "test"}, entry])}
    res = CliRunner().invoke(main, ["send-test", "--to", "ops@example.org", "--mailer", f"my-{kind}", "--json"],
                             env=cli_env, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["status"] == "sent" and data["mailer"] == f"my-{kind}" and len(standin.sent) == 1
    standin.mode = "reject"
    res = CliRunner().invoke(main, ["send-test", "--to", "ops@example.org", "--mailer", f"my-{kind}"],
                             env=cli_env, catch_exceptions=False)
    assert res.exit_code == 1 and "failed" in res.output and "HTTP 4" in res.output
    assert standin.problems == []


@pytest.mark.parametrize("standin", ["sendgrid"], indirect=True)
def test_an_inbound_only_entry_never_sends(db, settings, standin, sink, task_with_reply):
    inbound_only = MailerConfig(key="sg", type="sendgrid", priority=10, options=options_for("sendgrid", standin),
                                outbound=False)
    settings = with_mailers(settings, inbound_only, sink.mailer(priority=1))
    assert Worker(db, settings).run_once().sent == 1
    assert standin.requests == [] and _rows(db)[0].mailer == "sink"
    res = CliRunner().invoke(main, ["send-test", "--to", "ops@example.org", "--mailer", "sg"], env={
        "MAILGATE_INSTANCE": str(settings.instance_path), "MAILGATE_DATABASE_URL": settings.database_url,
        "MAILGATE_MAILERS": json.dumps([{"key": "sg", "type": "sendgrid", "outbound": False}])})
    assert res.exit_code == 1 and "does not send email" in res.output


@pytest.mark.parametrize("standin", ["mailgun"], indirect=True)
def test_mailgate_check_probes_the_api_and_shows_only_fingerprints(env, db, standin):
    entry = {"key": "mg", "type": "mailgun", "options": options_for("mailgun", standin)}
    cli_env = {**env, "MAILGATE_MAILERS": json.dumps([entry])}
    res = CliRunner().invoke(main, ["check"], env=cli_env, catch_exceptions=False)
    line = next(li for li in res.output.splitlines() if "mailer mg (mailgun)" in li)
    assert "domain mg.example.com (active) accepts the key" in line
    assert fingerprint("key-mailgun") in line and "key-mailgun" not in res.output
    assert [r.path for r in standin.requests] == ["/v3/domains/mg.example.com"]
    standin.mode = "unauthorized"
    res = CliRunner().invoke(main, ["check"], env=cli_env, catch_exceptions=False)
    assert res.exit_code != 0 and "HTTP 401: Forbidden" in res.output and "key-mailgun" not in res.output


def test_a_workers_report_counts_only_while_alive_and_until_it_retries(db):
    from mailgate.shared.models import Heartbeat

    now = utcnow()

    def beat(host, last_seen, until):
        with db.transaction() as s:
            s.add(Heartbeat(service="worker", host=host, pid=1, started_at=now, last_seen=last_seen,
                            detail={"mailers_down": {"pm": {"kind": "credentials", "why": "HTTP 401",
                                                            "until": until.isoformat(timespec="seconds")}}}))

    beat("alive", now, now + timedelta(minutes=5))
    assert "worker on alive" in outbound_health.reported_down(db)["pm"]
    with db.transaction() as s:
        s.query(Heartbeat).delete()
    beat("expired", now, now - timedelta(seconds=5))  # the worker is trying the mailer again
    beat("dead", now - timedelta(minutes=10), now + timedelta(minutes=5))  # no heartbeat for 10 min
    assert outbound_health.reported_down(db) == {}


@pytest.mark.parametrize("standin", ["postmark", "ses"], indirect=True)
def test_an_account_that_may_not_send_is_down_not_a_refused_message(db, settings, standin, sink, task_with_reply):
    standin.mode = "account"  # Postmark 422 ErrorCode 412, SES SendingPausedException: the next mailer may take it
    kind = standin.name
    settings = with_mailers(settings, api_mailer(kind, standin, priority=10), sink.mailer(priority=1))
    worker = Worker(db, settings)
    assert worker.run_once().sent == 1
    (row,) = _rows(db)
    assert row.status == "sent" and row.mailer == "sink"
    assert ("ErrorCode 412" if kind == "postmark" else "SendingPausedException") in row.last_error
    assert worker.down_report()[kind]["kind"] == "credentials"
    assert standin.problems == []
