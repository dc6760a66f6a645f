"""postmaster@, abuse@ and the notification sender at Mailgate's domains are never accepted and dropped.

They are reserved names, so the milter lets them pass, and Postfix's
whole-domain safety net (`discard:`) would throw them away after a 250
(audit finding 2). postfix/setup.sh aliases postmaster@ and abuse@ to the
local postmaster (mailgate_virtual.sh); the notification sender, where the
bounces of Mailgate's own notifications arrive, is taken as Mailgate's and
stored, so the robot guard records them.
"""

from __future__ import annotations

import smtplib
import subprocess
from pathlib import Path

import Milter
import pytest

from mailgate.milter.adapter import MailgateMilter
from privatepostfix import MilterProcess, PrivatePostfix
from mailgate.shared import queries
from mailgate.shared.models import ReceivedMessage

from .conftest import require
from .test_adapter import Conn

VIRTUAL_SH = Path(__file__).resolve().parents[2] / "postfix" / "mailgate_virtual.sh"
BOUNCE = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: noreply@reply.example.com\r\nSubject: Undelivered Mail\r\n"
          b"Message-ID: <bounce-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
          b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
          b"--XX\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
          b"--XX\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
          b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--XX--\r\n")


@pytest.fixture
def runtime(db, settings):
    from mailgate.milter.adapter import Runtime

    return Runtime(settings=settings, db=db)


def _last(db) -> dict:
    with db.read() as s:
        return queries.inbound_json(s.query(ReceivedMessage).order_by(ReceivedMessage.id.desc()).first())


def test_a_bounce_to_the_notification_sender_is_stored_as_ignored(runtime, db, seed, settings):
    assert settings.from_address == "noreply@reply.example.com"
    res = Conn(runtime).send(BOUNCE, "", "NoReply@reply.example.com")
    assert res["rcpt"]["NoReply@reply.example.com"] == Milter.CONTINUE
    assert res["eom"] == Milter.CONTINUE and res["delrcpt"] == ["<NoReply@reply.example.com>"]
    rec = _last(db)
    assert (rec["status"], rec["reason"]) == ("ignored", "bounce")


def _count(db) -> int:
    with db.read() as s:
        return s.query(ReceivedMessage).count()


def test_a_person_writing_to_the_notification_sender_is_refused_unstored(runtime, db, seed, mail):
    """Issue 20 item 4: only robots may fill the notification sender's mailbox; a person's message is refused
    on its headers, its body neither buffered nor stored."""
    before = _count(db)
    raw = mail(sender="alice@example.org", to="noreply@reply.example.com", body="Thanks!\n" * 20000)
    conn = Conn(runtime)
    res = conn.send(raw, "alice@example.org", "noreply@reply.example.com")
    assert res["body"] == Milter.SKIP and conn.milter.spool.size == 0
    assert res["eom"] == Milter.REJECT and res["reply"][:2] == ("550", "5.7.1") and "only sends" in res["reply"][2]
    # With someone else in the message: they get it; Mailgate's recipient is removed, nothing stored.
    res = Conn(runtime).send(raw, "alice@example.org", "noreply@reply.example.com", "carol@example.net")
    assert res["eom"] == Milter.CONTINUE and res["delrcpt"] == ["<noreply@reply.example.com>"]
    assert _count(db) == before
    assert runtime.refusals.flush(db) == 2  # counted with the RCPT refusals (list-refusals, the dashboard)


@pytest.mark.parametrize("sender,headers,reason", [
    ("bob@example.org", {"Auto-Submitted": "auto-replied", "Subject": "Re: [T1] Printer"}, "auto_generated"),
    ("bob@example.org", {"Subject": "Out of Office: Re: [T1] Printer"}, "auto_generated"),
    ("no-reply@service.example.com", {"Subject": "Your message"}, "unknown_recipient"),
])
def test_auto_replies_and_robot_senders_reach_the_notification_sender(runtime, db, seed, mail, sender, headers,
                                                                      reason):
    """An out-of-office reply may come from a person's own address: accepted on its headers; a robot's
    address is accepted too (stored; the guard, then route, decide)."""
    subject = headers.pop("Subject")
    raw = mail(sender=sender, to="noreply@reply.example.com", subject=subject, headers=headers,
               body="I am away until Monday.\n")
    res = Conn(runtime).send(raw, sender, "noreply@reply.example.com")
    assert res["eom"] == (Milter.REJECT if reason == "unknown_recipient" else Milter.CONTINUE)
    assert _last(db)["reason"] == reason


def test_postmaster_and_a_foreign_sender_address_pass_untouched(runtime, db, seed, settings):
    from dataclasses import replace

    m = Conn(runtime)
    res = m.send(BOUNCE, "", "postmaster@reply.example.com")
    assert res["rcpt"]["postmaster@reply.example.com"] == Milter.CONTINUE and res["eom"] == Milter.CONTINUE
    assert res["delrcpt"] == []  # Postfix's virtual alias (setup.sh) delivers it
    elsewhere = replace(settings, from_address="noreply@company.example")
    from mailgate.milter import adapter
    assert not adapter.takes_bounces(elsewhere, "noreply@company.example")
    assert isinstance(m.milter, MailgateMilter)


@pytest.fixture
def aliased_postfix(tmp_path_factory):
    """A private Postfix wired as setup.sh wires one: mailgate_virtual.sh's map, local postmaster -> carol."""
    require("postfix", "postfix")
    conf = tmp_path_factory.mktemp("aliases")
    (conf / "aliases").write_text("postmaster carol@local.test\n")  # texthash: no colon
    pf = PrivatePostfix(extra={"mydestination": "localhost", "myorigin": "localhost",
                               "alias_maps": f"texthash:{conf}/aliases", "virtual_alias_maps": f"texthash:{conf}/virtual"})
    pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
    pf.config_dir.mkdir(parents=True, exist_ok=True)
    (pf.config_dir / "main.cf").write_text(pf.main_cf())  # mailgate_virtual.sh reads alias_maps from it
    out = subprocess.run([str(VIRTUAL_SH), *pf.domains], capture_output=True, text=True, check=True,
                         env={"MAIL_CONFIG": str(pf.config_dir), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    (conf / "virtual").write_text(out.stdout)
    pf.start()
    yield pf
    pf.stop()


def test_postmaster_abuse_and_bounces_reach_someone_through_real_postfix(aliased_postfix, env, db, seed, tmp_path):
    pf = aliased_postfix
    milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=tmp_path / "milter.log").start()
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as smtp:
            for rcpt in ("postmaster@reply.example.com", "Abuse@reply.example.com"):
                body = f"From: alice@example.org\r\nTo: {rcpt}\r\nSubject: for {rcpt}\r\n\r\nHello {rcpt}.\r\n"
                assert smtp.sendmail("alice@example.org", [rcpt], body) == {}
            assert smtp.sendmail("", ["noreply@reply.example.com"], BOUNCE) == {}
        pf.wait_mailbox("carol", "Hello postmaster@reply.example.com.")
        pf.wait_mailbox("carol", "Hello Abuse@reply.example.com.")
        pf.wait_queue_empty()
    finally:
        milter.stop()
    assert "NOT-CONSUMED-BY-MAILGATE" not in pf.log()  # nothing fell into the safety net
    rec = _last(db)
    assert (rec["status"], rec["reason"]) == ("ignored", "bounce")


# --- issue 20 item 2: every reserved name Mailgate will not store is refused at RCPT -------------------

REFUSED_LOCALS = ("security", "webmaster", "hostmaster", "admin", "nobody", "root", "mailer-daemon",
                  "noreply+x", "NoReply+bounce", "postmaster+anything", "abuse+spam", "no-reply")


def _refused_forms(seed) -> list[str]:
    """Every reserved name, prefixed forms, and a reserved prefix in front of a valid reply address."""
    valid = seed.reply_address("T1", seed.bob).split("@", 1)[0]
    return [f"{local}@reply.example.com" for local in (*REFUSED_LOCALS, f"bounces+{valid}", f"noreply+{valid}")]


def test_reserved_names_are_refused_at_rcpt_with_550_511(runtime, db, seed, task_with_reply):
    before = _last(db)["id"]
    for address in _refused_forms(seed):
        res = Conn(runtime).send(b"Subject: x\r\n\r\nhello\r\n", "alice@example.org", address)
        assert res["rcpt"][address] == Milter.REJECT, address
        code, xcode, text = res["rcpt_reply"][address][:3]
        assert (code, xcode) == ("550", "5.1.1"), (address, code, xcode)
        assert "reserved" in text, text
    assert _last(db)["id"] == before  # nothing stored for any of them


def test_postmaster_and_abuse_exactly_still_pass_to_postfix(runtime, seed):
    for address in ("postmaster@reply.example.com", "Abuse@Reply.Example.com", "POSTMASTER@reply.example.com"):
        res = Conn(runtime).send(b"Subject: x\r\n\r\nhello\r\n", "alice@example.org", address)
        assert res["rcpt"][address] == Milter.CONTINUE and res["delrcpt"] == [], address


def test_every_reserved_form_is_refused_over_smtp_and_nothing_is_dropped(aliased_postfix, env, db, seed,
                                                                          task_with_reply, tmp_path):
    """Through a real Postfix wired as setup.sh wires it: swaks gets 550 5.1.1 at RCPT for each."""
    swaks = require("swaks", "swaks")
    pf = aliased_postfix
    milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=tmp_path / "milter.log").start()
    try:
        for address in _refused_forms(seed):
            out = subprocess.run([swaks, "--server", f"127.0.0.1:{pf.port}", "--from", "alice@example.org",
                                  "--to", address, "--quit-after", "RCPT"], capture_output=True, text=True, timeout=60)
            assert out.returncode == 24, (address, out.stdout[-600:])  # swaks: 5xx at RCPT
            assert "550 5.1.1" in out.stdout, out.stdout[-600:]
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as smtp:
            body = "From: alice@example.org\r\nTo: postmaster@reply.example.com\r\nSubject: hi\r\n\r\nStill read.\r\n"
            assert smtp.sendmail("alice@example.org", ["postmaster@reply.example.com"], body) == {}
        pf.wait_mailbox("carol", "Still read.")
        pf.wait_queue_empty()
    finally:
        milter.stop()
    assert "NOT-CONSUMED-BY-MAILGATE" not in pf.log()


def test_the_safety_net_refuses_what_bypassed_the_milter_instead_of_dropping_it(seed):
    """No milter on this listener: mail to a Mailgate domain bounces back to its sender, never vanishes.

    (A plain `error:` transport cannot be the net: smtpd would then refuse the whole domain at RCPT,
    before the milter is asked -- see docs/milter.md.)
    """
    require("postfix", "postfix")
    with PrivatePostfix() as pf:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=30) as smtp:
            body = "From: carol@local.test\r\nTo: x@reply.example.com\r\nSubject: lost?\r\n\r\nWhere does it go?\r\n"
            assert smtp.sendmail("carol@local.test", ["x@reply.example.com"], body) == {}
        bounce = pf.wait_mailbox("carol", "NOT-CONSUMED-BY-MAILGATE")
        assert "Undelivered Mail Returned to Sender" in bounce and "Where does it go?" in bounce
        pf.wait_queue_empty()
        assert "status=bounced" in pf.log() and "status=sent (delivers to discard" not in pf.log()


def test_a_refusal_the_sender_cannot_be_told_is_recorded_as_such(runtime, db, seed, mail):
    """Issue 20 item 11: a refused message that also went to someone else gets 250; no bounce, but the record says so."""
    raw = mail(sender="stranger@example.com", to="bugs@reply.example.com", body="Hello.\n")
    res = Conn(runtime).send(raw, "stranger@example.com", "bugs@reply.example.com", "carol@example.net")
    assert res["eom"] == Milter.CONTINUE
    with db.read() as s:
        rec = queries.inbound_detail_json(s.query(ReceivedMessage).order_by(ReceivedMessage.id.desc()).first())
    assert (rec["status"], rec["reason"]) == ("rejected", "unknown_sender")
    assert any("The sender was not told" in d and "1 recipient(s) outside Mailgate" in d for d in rec["decisions"])


def test_the_notification_sender_over_smtp_takes_robots_only(aliased_postfix, env, db, seed, tmp_path):
    """Through a real Postfix: a person's 1 MB message to noreply@ gets 550 5.7.1 after DATA and nothing of it
    is stored; a bounce (null sender) and an out-of-office reply from a person's address are stored, ignored."""
    pf = aliased_postfix
    milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=tmp_path / "milter.log").start()
    before = _count(db)
    person = ("From: Alice <alice@example.org>\r\nTo: noreply@reply.example.com\r\nSubject: Re: [T1] Printer\r\n"
              "Message-ID: <person-1@example.org>\r\n\r\n" + "Thanks, and here is a big log.\r\n" * 34000)
    away = ("From: Bob <bob@example.org>\r\nTo: noreply@reply.example.com\r\nSubject: Re: [T1] Printer\r\n"
            "Auto-Submitted: auto-replied\r\nMessage-ID: <away-1@example.org>\r\n\r\nI am away until Monday.\r\n")
    try:
        with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                smtp.sendmail("alice@example.org", ["noreply@reply.example.com"], person)
            assert refused.value.smtp_code == 550 and b"5.7.1" in refused.value.smtp_error
            assert _count(db) == before  # nothing of it stored
            assert smtp.sendmail("", ["noreply@reply.example.com"], BOUNCE) == {}
            assert _last(db)["reason"] == "bounce"
            assert smtp.sendmail("bob@example.org", ["noreply@reply.example.com"], away) == {}
            assert (_last(db)["status"], _last(db)["reason"]) == ("ignored", "auto_generated")
        pf.wait_queue_empty()
    finally:
        milter.stop()
    assert _count(db) == before + 2
    assert "NOT-CONSUMED-BY-MAILGATE" not in pf.log()
    assert "stored=no" in milter.log() and "reason=unknown_recipient" in milter.log()
