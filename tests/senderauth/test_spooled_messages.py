"""Sender authentication of a message the milter spooled to a file (milter/spool.py).

The session reads only the headers of an unsigned one; a DKIM-signed one is
read whole, so that the body hash is checked over every byte.
"""

from __future__ import annotations

import pytest

from mailgate.milter.adapter import Runtime
from mailgate.milter.writer import WriterProcess

from ..milter.test_adapter import Conn

BODY = b"".join(b"line %06d of a long report, signed with the rest\r\n" % i for i in range(20000))  # ~1 MB


@pytest.fixture
def writer_runtime(settings, db):
    writer = WriterProcess(settings, "WARNING")
    writer.start()
    yield Runtime(settings=settings, db=db, batcher=writer)
    writer.stop()


def _send(runtime: Runtime, raw: bytes, sender: str, rcpt: str) -> dict:
    conn = Conn(runtime)
    res = conn.send(raw, sender, rcpt)
    assert res["eom"] is not None
    return res


def _auth(db) -> dict:
    from mailgate.shared.models import ReceivedMessage

    with db.read() as s:
        return s.query(ReceivedMessage).order_by(ReceivedMessage.id.desc()).first().auth


def test_a_large_signed_message_is_verified_over_its_whole_body(writer_runtime, db, people, mail, zones):
    raw = zones.signers["pass.test"].sign(mail(sender="demo@pass.test", to=people, subject="Report") + BODY)
    _send(writer_runtime, raw, "demo@pass.test", people)
    auth = _auth(db)
    assert auth["verdict"] == "pass" and [d["result"] for d in auth["dkim"]] == ["pass"]
    tampered = raw[:-200] + b"X" + raw[-199:]  # one byte near the end, far past the headers
    _send(writer_runtime, tampered, "demo@pass.test", people)
    auth = _auth(db)
    assert [d["result"] for d in auth["dkim"]] == ["fail"] and auth["verdict"] == "fail"


def test_a_large_unsigned_message_is_checked_on_its_headers(writer_runtime, db, people, mail):
    raw = mail(sender="demo@pass.test", to=people, subject="Forged report") + BODY
    _send(writer_runtime, raw, "mallory@evil.test", people)
    auth = _auth(db)
    assert auth["verdict"] == "fail" and auth["dkim"] == [] and auth["from_domain"] == "pass.test"


FORWARDED = (b"\r\n---------- Forwarded message ----------\r\n"
             b"DKIM-Signature: v=1; a=rsa-sha256; d=elsewhere.test; s=x; h=from; bh=AA==; b=AA==\r\n"
             b"From: someone@elsewhere.test\r\n\r\nThe forwarded text.\r\n")


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_a_signature_line_in_the_body_does_not_make_a_message_signed(eol):
    from mailgate.shared.senderauth.head import signed

    head = eol.join([b"From: a@example.org", b"Subject: x", b"", b"hello", b"DKIM-Signature: v=1", b""])
    assert not signed(head)
    assert signed(b"DKIM-Signature: v=1" + eol + head)


def test_a_large_unsigned_message_is_read_only_as_far_as_its_headers(writer_runtime, db, people, mail,
                                                                      monkeypatch):
    from mailgate.milter import spool as spool_module
    from mailgate.shared.senderauth.head import HEADER_BYTES

    reads = []
    original = spool_module.Spool.read

    def counted(self, size=None):
        reads.append(size)
        return original(self, size)

    monkeypatch.setattr(spool_module.Spool, "read", counted)
    raw = mail(sender="demo@pass.test", to=people, subject="Forwarded report") + FORWARDED + BODY
    _send(writer_runtime, raw, "demo@pass.test", people)
    assert reads == [HEADER_BYTES]  # the headers for sender authentication; the writer takes the file
