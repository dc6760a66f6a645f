"""Sender authentication end to end: a private Postfix, `mailgate milter`, a real name server, DKIM-signed mail.

Mail comes from 127.0.0.1, which the test zones' SPF records name for
pass.test, evil.test and nodmarc.test. `bugs@` follows the server setting
(report); `strict@` requires authentication.
"""

from __future__ import annotations

import os
import smtplib

import pytest

from privatepostfix import MilterProcess, PrivatePostfix
from mailgate.shared import directory, queries
from mailgate.shared.models import ReceivedMessage

from dnszones import DnsServer

pytestmark = [pytest.mark.postfix, pytest.mark.slow]

REPORT = "bugs@reply.example.com"
STRICT = "strict@reply.example.com"


@pytest.fixture(scope="module")
def postfix():
    if os.geteuid() != 0:
        pytest.fail("the Postfix end-to-end tests start a private Postfix: run them as root (CI does)", pytrace=False)
    pf = PrivatePostfix()
    pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
    pf.start()
    yield pf
    pf.stop()


@pytest.fixture(scope="module")
def name_server(zones):
    server = zones.server().start()
    yield server
    server.stop()


@pytest.fixture
def env(env, name_server) -> dict[str, str]:
    return {**env, "MAILGATE_SENDER_AUTH": "report", "MAILGATE_DNS_SERVERS": name_server.address,
            "MAILGATE_DNS_TIMEOUT": "1", "MAILGATE_AUTHSERV_ID": "mx.test"}


@pytest.fixture
def milter(postfix, env, db, settings, people, tmp_path):
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", STRICT, actor="test", sender_auth="require")
    proc = MilterProcess(env=env, socket_path=postfix.milter_socket, log_path=tmp_path / "milter.log").start()
    yield proc
    proc.stop()


def send(postfix, mail_from: str, to: str, raw: bytes) -> tuple[int, str]:
    """(reply code, text) of the end of data; 250 when taken."""
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
        smtp.ehlo("client.test")
        smtp.mail(mail_from)
        code, text = smtp.rcpt(to)
        assert code == 250, (code, text)
        code, text = smtp.data(raw)
        return code, text.decode()


def last(db) -> dict:
    with db.read() as s:
        rec = s.query(ReceivedMessage).order_by(ReceivedMessage.id.desc()).first()
        return queries.inbound_detail_json(rec) if rec else {}


def count(db) -> int:
    with db.read() as s:
        return s.query(ReceivedMessage).count()


def test_aligned_dkim_pass_is_taken_under_require(postfix, milter, db, zones, mail):
    raw = zones.signers["pass.test"].sign(mail(sender="demo@pass.test", to=STRICT, subject="Signed"))
    assert send(postfix, "bounce-123@bounces.elsewhere.example", STRICT, raw)[0] == 250
    rec = last(db)
    assert (rec["status"], rec["actor"], rec["auth"]["verdict"]) == ("processed", "demo", "pass")
    assert rec["auth"]["dkim"] == [{"domain": "pass.test", "result": "pass"}] and rec["auth"]["spf"] == "none"


def test_spf_pass_aligned_is_taken_under_require(postfix, milter, db, mail):
    assert send(postfix, "demo@pass.test", STRICT, mail(sender="demo@pass.test", to=STRICT))[0] == 250
    rec = last(db)
    assert (rec["status"], rec["auth"]["spf"], rec["auth"]["aligned"]) == ("processed", "pass", True)


def test_forged_from_is_refused_under_require_and_flagged_under_report(postfix, milter, db, mail):
    code, text = send(postfix, "mallory@evil.test", STRICT, mail(sender="demo@pass.test", to=STRICT,
                                                                  subject="!priority low"))
    assert code == 550 and text.startswith("5.7.1") and "DMARC failed for pass.test" in text
    assert last(db)["reason"] == "unauthenticated_sender"
    code, _ = send(postfix, "mallory@evil.test", REPORT, mail(sender="demo@pass.test", to=REPORT))
    assert code == 250
    rec = last(db)
    assert (rec["status"], rec["actor"], rec["auth"]["verdict"]) == ("processed", "demo", "fail")
    assert "may be forged" in rec["auth_mismatch"]


def test_body_tampered_after_signing_is_refused(postfix, milter, db, zones, mail):
    raw = zones.signers["pass.test"].sign(mail(sender="demo@pass.test", to=STRICT, body="Close it."))
    code, _ = send(postfix, "x@bounces.elsewhere.example", STRICT, raw.replace(b"Close it.", b"Delete it."))
    assert code == 550
    assert last(db)["auth"]["dkim"] == [{"domain": "pass.test", "result": "fail"}]


def test_dmarc_p_none_is_recorded(postfix, milter, db, mail):
    assert send(postfix, "news@none.test", REPORT, mail(sender="news@none.test", to=REPORT))[0] == 250
    auth = last(db)["auth"]
    assert (auth["dmarc"], auth["policy"], auth["verdict"]) == ("fail", "none", "fail")


def test_injected_authentication_results_with_our_id_is_not_believed(postfix, milter, db, mail):
    raw = mail(sender="demo@pass.test", to=STRICT, headers={
        "Authentication-Results": "mx.test; dkim=pass header.d=pass.test; spf=pass smtp.mailfrom=demo@pass.test; "
                                  "dmarc=pass header.from=pass.test"})
    code, text = send(postfix, "mallory@evil.test", STRICT, raw)
    assert code == 550 and "5.7.1" in text
    assert last(db)["auth"]["source"] == "verified"


def test_personal_address_opens_a_task_under_require_and_dies_after_rotation(postfix, milter, db, mail):
    with db.transaction() as s:
        personal = directory.personal_create_address(s, "pat", address=STRICT, actor="test")
    assert send(postfix, "pat@nodmarc.test", personal, mail(sender="pat@nodmarc.test", to=personal))[0] == 250
    rec = last(db)
    assert (rec["status"], rec["action"], rec["actor"], rec["auth"]["verdict"]) == ("processed", "create", "pat", "none")
    with db.transaction() as s:
        directory.personal_create_address(s, "pat", rotate=True, actor="test")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as smtp:
        smtp.ehlo("client.test")
        smtp.mail("pat@nodmarc.test")
        code, text = smtp.rcpt(personal)
    # The milter caches a usable address for a few seconds: refused at RCPT, or at the end of the message.
    assert code == 550 or send(postfix, "pat@nodmarc.test", personal, mail(sender="pat@nodmarc.test"))[0] == 550


def test_dns_timeout_is_451_and_nothing_is_lost(postfix, milter, db, settings, mail, zones, name_server):
    with db.transaction() as s:
        directory.add_user_email(s, "demo", "ops@slow.test", settings=settings, actor="test")
    raw = mail(sender="ops@slow.test", to=STRICT, subject="During the outage")
    code, text = send(postfix, "ops@slow.test", STRICT, raw)
    assert code == 451 and text.startswith("4.7.0"), (code, text)
    rec = last(db)
    assert (rec["status"], rec["auth"]["verdict"]) == ("received", "temperror")  # stored, not acted on
    # Under report the same outage is recorded and the message taken.
    assert send(postfix, "ops@slow.test", REPORT, mail(sender="ops@slow.test", to=REPORT))[0] == 250
    assert last(db)["auth"]["verdict"] == "temperror"
    # The name server answers again (same address): the sender's retry is taken.
    name_server.stop()
    back = DnsServer(zones.zone(), silent=(), servfail=(zones.SERVFAIL,), port=name_server.port).start()
    try:
        assert send(postfix, "ops@slow.test", STRICT, raw)[0] == 250
        rec = last(db)
        assert (rec["status"], rec["actor"], rec["auth"]["verdict"]) == ("processed", "demo", "pass")
    finally:
        back.stop()
        name_server.start()


def test_our_verifiers_bound_header_is_believed_in_the_milter(zones, env, db, settings, people, mail, tmp_path):
    """A verifier milter in front of Mailgate's (as OpenDMARC with AuthservIDWithJobID): its header carries
    this message's queue id and is believed (a sender's own claim without it is not: the injected test above)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import leftovers
    import privatepostfix

    pf = PrivatePostfix()
    mailgate_sock = str(pf.root / "queue" / "mailgate" / "milter.sock")
    verifier_sock = str(pf.root / "verifier.sock")
    pf.extra["smtpd_milters"] = (f"unix:{verifier_sock}, {{ unix:{mailgate_sock}, default_action=tempfail }}")
    claim = "spf=pass smtp.mailfrom=demo@pass.test; dkim=pass header.d=pass.test; dmarc=pass header.from=pass.test"
    helper = Path(privatepostfix.__file__).with_name("verifiermilter.py")
    verifier = subprocess.Popen([sys.executable, "-P", str(helper), verifier_sock, "mx.test", claim],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    running = leftovers.started(f"verifier milter on {verifier_sock}", verifier.kill,
                                leftovers.process(verifier.pid, group=True))
    proc = None
    try:
        with db.transaction() as s:
            directory.add_create_address(s, settings, "tasks", STRICT, actor="test", sender_auth="require")
        deadline = time.monotonic() + 20
        while not os.path.exists(verifier_sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        pf.start()
        proc = MilterProcess(env=env, socket_path=mailgate_sock, log_path=tmp_path / "milter.log").start()
        # The forger's message: Mailgate alone would refuse it (evil.test is not pass.test); the verifier
        # in front says pass, bound to this transaction, and Mailgate takes its word.
        code, _ = send(pf, "mallory@evil.test", STRICT, mail(sender="demo@pass.test", to=STRICT))
        assert code == 250
        auth = last(db)["auth"]
        assert (auth["source"], auth["verdict"], auth["dmarc"]) == ("upstream", "pass", "pass")
        assert auth["dkim"] == [{"domain": "pass.test", "result": "pass"}]
    finally:
        if proc is not None:
            proc.stop()
        pf.stop()
        verifier.terminate()
        verifier.wait(10)
        leftovers.stopped(running)
