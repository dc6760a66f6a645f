"""An oversized message with other recipients: they get it, Mailgate's copy is recorded (audit finding 5).

MAILGATE_MAX_MESSAGE_BYTES is Mailgate's limit; refusing the whole message
(552) also refused the local users Postfix would have delivered it to. Now,
as DESIGN's table says for any refusal of a mixed message: delrcpt and
record `rejected` (here too_large, truncated to its headers). 552 stays
when every recipient is Mailgate's.
"""

from __future__ import annotations

import smtplib
from dataclasses import replace

import Milter
import pytest

from mailgate.milter.adapter import Runtime
from privatepostfix import MilterProcess
from mailgate.shared.models import ReceivedMessage

from .test_adapter import Conn

LIMIT = 20000


def _rows(db) -> list[ReceivedMessage]:
    with db.read() as s:
        rows = s.query(ReceivedMessage).order_by(ReceivedMessage.id).all()
        s.expunge_all()
        return rows


@pytest.fixture
def small(settings, db):
    return Runtime(settings=replace(settings, max_message_bytes=LIMIT), db=db)


def _big(to: str, where: str) -> bytes:
    padding = b"X-Padding: " + b"p" * (LIMIT + 100) + b"\n" if where == "headers" else b""
    return (b"From: alice@example.org\nTo: " + to.encode() + b"\nSubject: big report\n" + padding
            + b"Message-ID: <big-2@example.org>\n\nSee the attachment.\n" + (b"z" * 75 + b"\n") * 600)


@pytest.mark.parametrize("where", ["body", "headers"])
def test_mixed_oversized_is_recorded_and_the_others_get_it(small, db, seed, where):
    raw = _big(seed.create_address, where)
    conn = Conn(small)
    res = conn.send(raw, "alice@example.org", seed.create_address, "carol@example.net")
    assert res["body"] == Milter.CONTINUE and res["eom"] == Milter.CONTINUE
    assert res["delrcpt"] == [f"<{seed.create_address}>"]
    assert conn.milter.spool.size == 0
    (rec,) = _rows(db)
    assert (rec.status, rec.reason, rec.truncated) == ("rejected", "too_large", True)
    assert rec.size >= len(raw) > LIMIT  # the whole size (headers stored CRLF), though the body was not buffered
    if where == "body":  # (crossed in the headers: the Message-ID after the limit is not kept)
        assert rec.message_id == "big-2@example.org"
    assert rec.rcpt_to == [seed.create_address]


def test_all_mailgate_oversized_is_still_552(small, db, seed):
    res = Conn(small).send(_big(seed.create_address, "body"), "alice@example.org", seed.create_address)
    assert res["body"] == Milter.REJECT and res["reply"][:2] == ("552", "5.3.4")
    assert _rows(db) == []


@pytest.mark.postfix
@pytest.mark.slow
def test_real_postfix_delivers_the_local_copy(postfix, env, db, seed, tmp_path):
    milter = MilterProcess(env={**env, "MAILGATE_MAX_MESSAGE_BYTES": str(LIMIT)}, socket_path=postfix.milter_socket,
                           log_path=tmp_path / "milter.log").start()
    carol = f"carol@{postfix.local_domain}"
    try:
        with smtplib.SMTP("127.0.0.1", postfix.port, timeout=30) as smtp:
            assert smtp.sendmail("alice@example.org", [seed.create_address, carol], _big(seed.create_address, "body")) == {}
        postfix.wait_mailbox("carol", "See the attachment.")
        postfix.wait_queue_empty()
    finally:
        milter.stop()
    assert "NOT-CONSUMED-BY-MAILGATE" not in postfix.log()
    (rec,) = _rows(db)
    assert (rec.status, rec.reason, rec.truncated) == ("rejected", "too_large", True)
