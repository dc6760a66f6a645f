"""Per-client-IP and per-sender rate limits at RCPT, 4xx when exceeded (issue 20 item 4)."""

from __future__ import annotations

import smtplib
from dataclasses import replace

import Milter
import pytest

from mailgate.milter.adapter import Runtime
from mailgate.shared.config import ConfigError, from_env
from mailgate.shared.ratelimit import Rate

from .conftest import require
from .test_adapter import Conn


def _runtime(db, settings, client: str = "off", sender: str = "off") -> Runtime:
    from mailgate.shared.ratelimit import parse_rate

    return Runtime(settings=replace(settings, rate_per_client=parse_rate(client), rate_per_sender=parse_rate(sender)),
                   db=db)


def _send(conn: Conn, mail, sender: str, rcpt: str) -> dict:
    return conn.send(mail(sender=sender or "x@example.org", to=rcpt), sender, rcpt)


def test_defaults_and_configuration(env):
    env = {k: v for k, v in env.items() if not k.startswith("MAILGATE_RATE_LIMIT_")}
    settings = from_env(env)
    assert (settings.rate_per_client, settings.rate_per_sender) == (Rate(120, 60.0), Rate(30, 60.0))
    off = from_env({**env, "MAILGATE_RATE_LIMIT_PER_CLIENT": "off", "MAILGATE_RATE_LIMIT_PER_SENDER": "0"})
    assert (off.rate_per_client, off.rate_per_sender) == (None, None)
    with pytest.raises(ConfigError, match="MAILGATE_RATE_LIMIT_PER_SENDER"):
        from_env({**env, "MAILGATE_RATE_LIMIT_PER_SENDER": "30 a minute"})


def test_a_client_over_its_rate_gets_451_at_rcpt_and_others_do_not(db, seed, settings, mail):
    rt = _runtime(db, settings, client="2/minute")
    conn = Conn(rt)  # the client is 192.0.2.7
    for _ in range(2):
        assert _send(conn, mail, "alice@example.org", seed.create_address)["eom"] == Milter.CONTINUE
    res = _send(conn, mail, "alice@example.org", seed.create_address)
    assert res["rcpt"][seed.create_address] == Milter.TEMPFAIL
    code, xcode, text = res["rcpt_reply"][seed.create_address][:3]
    assert (code, xcode) == ("451", "4.7.1") and "192.0.2.7" in text
    assert rt.rate_limited == 1
    rt.refusals.flush(db)  # counted per reason and hour, as the dashboard and list-refusals show them
    with db.read() as s:
        from mailgate.shared.refusals import totals_by_reason
        from mailgate.shared.db import utcnow

        assert totals_by_reason(s, utcnow()).get("rate_limited") == 1
    # Mail for others on the same connection is not Mailgate's to limit.
    assert _send(conn, mail, "alice@example.org", "carol@elsewhere.example")["rcpt"]["carol@elsewhere.example"] \
        == Milter.CONTINUE
    other = Conn(rt)
    other.ctx._setsymval("{client_addr}", "198.51.100.9")
    assert _send(other, mail, "alice@example.org", seed.create_address)["eom"] == Milter.CONTINUE


def test_a_sender_over_its_rate_gets_451_but_bounces_are_not_sender_limited(db, seed, settings, mail):
    rt = _runtime(db, settings, sender="1/hour")
    conn = Conn(rt)
    assert _send(conn, mail, "alice@example.org", seed.create_address)["eom"] == Milter.CONTINUE
    res = _send(conn, mail, "Alice@Example.org", seed.create_address)
    assert res["rcpt"][seed.create_address] == Milter.TEMPFAIL
    assert "alice@example.org" in res["rcpt_reply"][seed.create_address][2]
    assert _send(conn, mail, "bob@example.org", seed.create_address)["eom"] == Milter.CONTINUE
    for _ in range(3):  # the null sender is every MTA's bounces: the client limit covers it
        assert _send(conn, mail, "", seed.create_address)["rcpt"][seed.create_address] == Milter.CONTINUE


def test_one_message_to_several_mailgate_addresses_counts_once(db, seed, settings, mail, task_with_reply):
    _, reply = task_with_reply
    rt = _runtime(db, settings, client="1/minute")
    conn = Conn(rt)
    res = conn.send(mail(sender="bob@example.org", to=reply), "bob@example.org", reply, seed.create_address)
    assert set(res["rcpt"].values()) == {Milter.CONTINUE}


def test_over_smtp_the_client_sees_451_and_retries_later(postfix, env, db, seed, mail, tmp_path):
    from privatepostfix import MilterProcess

    require("postfix", "postfix")
    milter = MilterProcess(env={**env, "MAILGATE_RATE_LIMIT_PER_CLIENT": "2/hour"}, socket_path=postfix.milter_socket,
                           log_path=tmp_path / "milter.log").start()
    try:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
            for _ in range(2):
                assert smtp.sendmail("alice@example.org", [seed.create_address], mail()) == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                smtp.sendmail("alice@example.org", [seed.create_address], mail())
        code, text = refused.value.recipients[seed.create_address]
        assert code == 451 and b"4.7.1" in text and b"127.0.0.1" in text
    finally:
        milter.stop()
    assert "reason=rate_limited" in (tmp_path / "milter.log").read_text()
