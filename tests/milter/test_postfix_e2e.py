"""End to end: a real (private) Postfix, `mailgate milter` on a unix socket, smtplib and swaks."""

from __future__ import annotations

import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from mailgate.shared import queries
from mailgate.shared.models import ReceivedMessage

from .conftest import require

pytestmark = [pytest.mark.postfix, pytest.mark.slow]


def _comments(db, ref: str) -> list[str]:
    with db.read() as s:
        return [c["text"] for c in queries.task_json(s, queries.get_task(s, ref))["comments"]]


def _messages(db) -> list[dict]:
    with db.read() as s:
        return [queries.inbound_json(r) for r in s.query(ReceivedMessage).order_by(ReceivedMessage.id)]


def _forge(addr: str) -> str:
    local, domain = addr.split("@")
    return local[:-4] + ("0000" if not local.endswith("0000") else "1111") + "@" + domain


def _reply(mail, addr: str, body: str, sender: str = "bob@example.org") -> bytes:
    return mail(sender=sender, to=addr, subject="Re: Printer on fire", body=body)


def test_good_reply_becomes_a_comment(postfix, milter_proc, db, task_with_reply, mail):
    ref, addr = task_with_reply
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo("client.example.net")
        refused = smtp.sendmail("bob@example.org", [addr], _reply(mail, addr, "Put it out with sand.\n"))
        assert refused == {}
    assert any("Put it out with sand." in c for c in _comments(db, ref))
    rec = _messages(db)[-1]
    assert rec["status"] == "processed" and rec["action"] == "comment"
    with db.read() as s:  # address and name from macros with MAIL FROM (no connect callback), HELO from its callback
        stored = s.get(ReceivedMessage, rec["id"])
        assert (stored.client_addr, stored.helo) == ("127.0.0.1", "client.example.net")
        assert stored.client_name and stored.queue_id
    postfix.wait_queue_empty()
    # delrcpt, not the safety net: nothing reached the discard transport.
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()


def test_forged_hash_is_550_at_rcpt_smtplib(postfix, milter_proc, db, task_with_reply, mail):
    ref, addr = task_with_reply
    forged = _forge(addr)
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        smtp.ehlo()
        smtp.mail("bob@example.org")
        code, text = smtp.rcpt(forged)
    assert code == 550, (code, text)
    assert b"5.1.1" in text and b"rotated" in text
    assert len(_messages(db)) == 1  # only the message that opened the task


def test_forged_hash_is_550_at_rcpt_swaks(postfix, milter_proc, task_with_reply):
    swaks = require("swaks", "swaks")
    ref, addr = task_with_reply
    bad = subprocess.run([swaks, "--server", f"127.0.0.1:{postfix.port}", "--from", "bob@example.org",
                          "--to", _forge(addr), "--quit-after", "RCPT"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 24, bad.stdout[-1500:]
    assert "550 5.1.1" in bad.stdout


def test_good_reply_with_swaks(postfix, milter_proc, db, task_with_reply):
    swaks = require("swaks", "swaks")
    ref, addr = task_with_reply
    ok = subprocess.run([swaks, "--server", f"127.0.0.1:{postfix.port}", "--from", "bob@example.org",
                         "--to", addr, "--header", "Subject: Re: printer", "--body", "Sent with swaks.\n"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout[-1500:]
    assert any("Sent with swaks." in c for c in _comments(db, ref))


def test_mixed_recipients_ordinary_one_delivered(postfix, milter_proc, db, task_with_reply, mail):
    ref, addr = task_with_reply
    raw = mail(sender="bob@example.org", to=f"{addr}, carol@{postfix.local_domain}",
               subject="Re: Printer on fire", body="Copying Carol on this.\n")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        assert smtp.sendmail("bob@example.org", [f"carol@{postfix.local_domain}", addr], raw) == {}
    assert "Copying Carol on this." in postfix.wait_mailbox("carol", "Copying Carol on this.")
    assert any("Copying Carol on this." in c for c in _comments(db, ref))
    postfix.wait_queue_empty()
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()


def test_unknown_sender_on_create_address_is_550_after_data(postfix, milter_proc, db, seed, mail):
    raw = mail(sender="stranger@example.net", subject="Let me in", body="Hello.\n")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail("stranger@example.net", [seed.create_address], raw)
    assert err.value.smtp_code == 550 and b"5.7.1" in err.value.smtp_error
    assert _messages(db)[-1]["reason"] == "unknown_sender"


def test_milter_down_is_4xx_and_nothing_is_lost(postfix, milter_proc, db, task_with_reply, mail):
    ref, addr = task_with_reply
    raw = _reply(mail, addr, "Sent while the milter was down.\n")
    milter_proc.stop()
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        with pytest.raises((smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)) as err:
            smtp.sendmail("bob@example.org", [addr], raw)
    codes = ([c for c, _ in err.value.recipients.values()] if isinstance(err.value, smtplib.SMTPRecipientsRefused)
             else [err.value.smtp_code])
    assert all(400 <= c < 500 for c in codes), codes
    assert not any("Sent while the milter was down." in c for c in _comments(db, ref))
    # The client keeps the message and retries once the milter is back.
    milter_proc.start()
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        assert smtp.sendmail("bob@example.org", [addr], raw) == {}
    assert any("Sent while the milter was down." in c for c in _comments(db, ref))


def test_several_messages_on_one_connection(postfix, milter_proc, db, seed, task_with_reply, mail):
    ref, addr = task_with_reply
    carol = f"carol@{postfix.local_domain}"
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        assert smtp.sendmail("bob@example.org", [addr], _reply(mail, addr, "First on the connection.\n")) == {}
        assert smtp.sendmail("alice@example.org", [carol], mail(to=carol, body="Second, not ours.\n")) == {}
        code, _ = (smtp.mail("bob@example.org"), smtp.rcpt(_forge(addr)))[1]
        assert code == 550
        smtp.rset()
        assert smtp.sendmail("alice@example.org", [seed.create_address],
                             mail(subject="Third: new task", body="Third on the connection.\n")) == {}
    assert any("First on the connection." in c for c in _comments(db, ref))
    postfix.wait_mailbox("carol", "Second, not ours.")
    rows = _messages(db)
    assert [r["action"] for r in rows[-2:]] == ["comment", "create"]
    with db.read() as s:
        last = s.get(ReceivedMessage, rows[-1]["id"])
        assert last.rcpt_to == [seed.create_address] and last.mail_from == "alice@example.org"
        assert s.get(ReceivedMessage, rows[-2]["id"]).rcpt_to == [addr]
    assert "Second, not ours." not in str([r for r in rows])


def test_miltertest_protocol_script(postfix, milter_proc, db, task_with_reply):
    miltertest = require("miltertest", "miltertest")
    ref, addr = task_with_reply
    script = Path(__file__).with_name("protocol.lua")
    env = {"MILTER_SOCKET": postfix.milter_socket, "GOOD_RCPT": addr, "FORGED_RCPT": _forge(addr), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([miltertest, "-s", str(script)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr + milter_proc.log()
    assert "miltertest: ok" in out.stdout
    assert any("Commented through miltertest." in c for c in _comments(db, ref))
    with db.read() as s:
        rec = s.get(ReceivedMessage, _messages(db)[-1]["id"])
        assert rec.queue_id == "MTQID1" and rec.client_addr == "192.0.2.9"


def test_mailgate_check_sees_the_wiring(postfix, milter_proc, settings, db):
    from dataclasses import replace

    from mailgate.shared.health import run_checks

    wired = replace(settings, milter_socket=f"unix:{postfix.milter_socket}")
    checks = {c.name: c for c in run_checks(wired, db, postfix_config_dir=str(postfix.config_dir))}
    for name in ("database", "mail key", "postfix running", "milter configured", "milter default action",
                 "domain routed", "milter socket", "milter last seen"):
        assert checks[name].ok, (name, checks[name])
    milter_proc.stop()
    checks = {c.name: c for c in run_checks(wired, db, postfix_config_dir=str(postfix.config_dir))}
    assert not checks["milter socket"].ok and checks["milter socket"].fix


def test_sigterm_lets_the_message_in_flight_finish(postfix, milter_proc, db, task_with_reply, mail):
    import signal

    ref, addr = task_with_reply
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
        smtp.ehlo()
        assert smtp.mail("bob@example.org")[0] == 250
        assert smtp.rcpt(addr)[0] == 250
        milter_proc.proc.send_signal(signal.SIGTERM)  # mid-message: after RCPT, before DATA
        time.sleep(0.5)
        assert milter_proc.proc.poll() is None, "the milter quit with a message in flight"
        code, text = smtp.data(_reply(mail, addr, "Finished during shutdown.\n"))
        assert code == 250, (code, text)
    assert any("Finished during shutdown." in c for c in _comments(db, ref))
    assert milter_proc.proc.wait(30) == 0
    assert "stopped" in milter_proc.log() and "unfinished=0" in milter_proc.log()


def test_mixed_case_rcpt_is_deleted_not_discarded(postfix, milter_proc, db, task_with_reply, mail):
    """delrcpt names the recipient exactly as the client sent it, so Postfix's match never misses."""
    ref, addr = task_with_reply
    local, domain = addr.split("@")
    shouted = f"{local.upper()}@{domain.title()}"
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
        assert smtp.sendmail("Bob@Example.org", [shouted], _reply(mail, shouted, "Shouted reply.\n")) == {}
    assert any("Shouted reply." in c for c in _comments(db, ref))
    postfix.wait_queue_empty()
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()
