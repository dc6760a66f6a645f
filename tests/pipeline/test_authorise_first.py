"""Authorisation before the body (issue 20 item 9): mail anyone can send costs no body decoding.

A 250 KB message of 4,999 HTML alternatives from an unknown sender cost
~140 ms of the writer's single thread (its MIME structure read at the store,
then parsed) before authorise refused it. Now the store reads the header
section, the robot guard its header evidence, route and authorise the
headers and the database; the body is read only for a message those steps
let through.
"""

from __future__ import annotations

import pytest

from mailgate.shared import message
from mailgate.shared.pipeline import work
from mailgate.shared.outcomes import Reason, Status


def hostile_alternatives(sender: str, to: str, n: int = 4_999) -> bytes:
    """The attack of the issue: one multipart/alternative of `n` tiny HTML parts (~250 KB)."""
    parts = "".join(f"--ALT\r\nContent-Type: text/html\r\n\r\n<p>hi {i}</p>\r\n" for i in range(n))
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: hello\r\nMessage-ID: <alt-{n}-{sender}@example.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=ALT\r\n\r\n"
            f"{parts}--ALT--\r\n").encode()


@pytest.fixture
def decoded(monkeypatch):
    """Counts every reading of a message's body: the MIME parser, and the single-part shortcut (also when
    it reuses the header section read at the store: `load_rest` with where the body starts)."""
    seen: list[str] = []
    real_single, real_parser, real_rest = message._single_part, message._BoundedParser, work.load_rest

    def rest(head, raw, body_at):
        if body_at is not None:
            seen.append("single")
        return real_rest(head, raw, body_at)

    def single_part(text):
        seen.append("single")
        return real_single(text)

    class Parser(real_parser):
        def __init__(self, *args, **kwargs):
            seen.append("mime")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(message, "_single_part", single_part)
    monkeypatch.setattr(message, "_BoundedParser", Parser)
    monkeypatch.setattr(work, "load_rest", rest)
    return seen


def test_a_message_refused_at_authorise_has_no_body_decoded(seed, receive, decoded, mail):
    out = receive(hostile_alternatives("mallory@evil.test", seed.create_address), sender="mallory@evil.test",
                  to=[seed.create_address])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.UNKNOWN_SENDER)
    out = receive(mail(sender="mallory@evil.test", body="A plain one."), sender="mallory@evil.test",
                  to=[seed.create_address])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.UNKNOWN_SENDER)
    assert decoded == []


def test_a_forged_reply_has_no_body_decoded(seed, receive, decoded, task_with_reply):
    _, bobs = task_with_reply
    decoded.clear()
    out = receive(hostile_alternatives("mallory@evil.test", bobs), sender="mallory@evil.test", to=[bobs])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.SENDER_MISMATCH)
    assert decoded == []


def test_an_authorised_sender_is_read_and_parsed_as_before(seed, receive, decoded, mail):
    out = receive(mail(sender="alice@example.org", body="Please look.\n\n!priority high\n"),
                  sender="alice@example.org", to=[seed.create_address])
    assert (out.status, out.commands) == (Status.PROCESSED, ["priority high"])
    assert decoded == ["single"]


def test_the_guards_header_evidence_still_comes_before_authorise(seed, receive, decoded, mail):
    """DESIGN's order: a bounce or an auto-reply is ignored, not refused, whoever sent it."""
    auto = mail(sender="mallory@evil.test", subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    out = receive(auto, sender="mallory@evil.test", to=[seed.create_address])
    assert (out.status, out.reason) == (Status.IGNORED, Reason.AUTO_GENERATED)
    bounce = hostile_alternatives("MAILER-DAEMON@evil.test", seed.create_address)
    out = receive(bounce, sender="", to=[seed.create_address])
    assert (out.status, out.reason) == (Status.IGNORED, Reason.BOUNCE)
    # A robot's reason is read from a glance at its body (below): each read once.
    assert decoded == ["single", "single", "mime"]


def test_the_glance_at_a_robots_body_is_bounded():
    raw = hostile_alternatives("MAILER-DAEMON@evil.test", "bugs@reply.example.com")
    glance = message.load_glance(message.load_head(raw), raw)
    assert glance["Subject"] == "hello" and message.TOO_DEEP in map(str, glance.defects)  # 100 parts at most
    small = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nhi\r\n--b--\r\n"
    assert message.load_glance(message.load_head(small), small + b"x" * 100_000).get_payload()[0].get_payload() \
        == "hi"


def test_robot_evidence_only_the_body_carries_is_still_found_for_an_authorised_sender(seed, receive, mail):
    dsn = ("Your message could not be delivered.\n\nReporting-MTA: dns; mx.example.org\n"
           "Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.1.1\n")
    out = receive(mail(sender="alice@example.org", subject="Re: hello", body=dsn), sender="alice@example.org",
                  to=[seed.create_address])
    assert (out.status, out.reason) == (Status.IGNORED, Reason.BOUNCE)
    # From someone who may not write here, the body is not read: refused as such (docs/security.md).
    out = receive(mail(sender="mallory@evil.test", subject="Re: hello", body=dsn), sender="mallory@evil.test",
                  to=[seed.create_address])
    assert (out.status, out.reason) == (Status.REJECTED, Reason.UNKNOWN_SENDER)


def test_a_body_not_read_ahead_is_read_at_its_turn(db, settings, seed, mail):
    """The foresight only saves work: when the transaction decides otherwise, the parse step reads then."""
    from mailgate.shared import directory
    from mailgate.shared.envelope import Envelope
    from mailgate.shared.pipeline import driver
    from mailgate.shared.pipeline.steps import store as store_step
    from mailgate.shared.pipeline.work import Timings

    envelope = Envelope(sender="dave@example.org", recipients=[seed.create_address])
    w = store_step.arrival(settings, envelope, mail(sender="dave@example.org", body="Hello from Dave."), Timings())
    with db.pipeline() as conn:
        store_step.run(conn, [w])
        driver.read_all([w], conn)
    assert not w.body_needed and not w.body_read and w.parsed is None
    with db.transaction() as s:  # dave becomes a user between the foresight and the transaction
        directory.add_user(s, "dave", ["dave@example.org"], "Dave", settings=settings, actor="test")
    with db.pipeline() as conn:
        (answer,) = driver.decide_all(conn, [w])
    assert (answer.status, answer.action) == (Status.PROCESSED, "create") and w.parsed.text == "Hello from Dave."
