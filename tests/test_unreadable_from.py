"""A From whose mailbox cannot be read unambiguously is rejected/unreadable_from (issue 20 item 3).

It used to fall back silently: `From: alice@example.org <mallory@evil.test>` was
read as alice (the first of two addresses the lenient parser found), and
`From: alice, mallory` (no address at all) as the envelope sender. The
envelope never stands in for a From that is there but unreadable.
"""

from __future__ import annotations

import email

import pytest

from mailgate.shared.message import from_mailbox


def _raw(from_lines: list[str], to: str = "bugs@reply.example.com", body: str = "Please look.\n") -> bytes:
    head = "".join(f"From: {v}\r\n" for v in from_lines)
    return (f"{head}To: {to}\r\nSubject: Something broke\r\nMessage-ID: <{abs(hash((tuple(from_lines), to)))}@x>\r\n"
            f"\r\n{body}").encode()


@pytest.mark.parametrize("value", [
    "alice@example.org <mallory@evil.test>",
    "alice, mallory",
    "alice@example.org, mallory@evil.test",
    "alice@example.org;mallory@evil.test",
    "<alice@example.org> mallory@evil.test",
    "Alice <alice@example.org> <mallory@evil.test>",
    "alice@example.org (x) <mallory@evil.test>",
    "alice",
    "undisclosed-recipients:;",
    "",
    "a" * 3000 + "@example.org",
])
def test_ambiguous_or_addressless_from_is_unreadable(value):
    found = from_mailbox(email.message_from_bytes(_raw([value])))
    assert found.present and found.address == "" and found.problem, (value, found)


@pytest.mark.parametrize("value, address", [
    ("alice@example.org", "alice@example.org"),
    ("Alice <alice@example.org>", "alice@example.org"),
    ('"Smith, Alice" <alice@example.org>', "alice@example.org"),
    ("alice@example.org (Alice)", "alice@example.org"),
    ('"alice@example.org" <mallory@evil.test>', "mallory@evil.test"),  # a quoted name is only a name
    ("=?utf-8?q?alice=40example.org?= <mallory@evil.test>", "mallory@evil.test"),
    ("Alice <alice@example.org>, ", "alice@example.org"),
])
def test_one_mailbox_is_read(value, address):
    found = from_mailbox(email.message_from_bytes(_raw([value])))
    assert (found.address, found.problem) == (address, ""), found


def test_two_from_headers_are_unreadable_and_none_is_absent():
    assert from_mailbox(email.message_from_bytes(_raw(["alice@example.org", "mallory@evil.test"]))).problem
    absent = from_mailbox(email.message_from_bytes(b"To: x@example.org\r\n\r\nhi\r\n"))
    assert (absent.present, absent.address, absent.problem) == (False, "", "")


@pytest.mark.parametrize("value", ["alice@example.org <mallory@evil.test>", "alice, mallory"])
def test_the_pipeline_rejects_it_and_says_what_it_saw(db, seed, receive, value):
    out = receive(_raw([value]), sender="alice@example.org", to=["bugs@reply.example.com"])
    assert (out.status, out.reason) == ("rejected", "unreadable_from"), out
    from mailgate.shared import queries
    from mailgate.shared.models import ReceivedMessage

    with db.read() as s:
        rec = queries.inbound_detail_json(s.get(ReceivedMessage, out.id))
    trail = " ".join(rec["decisions"])
    assert value in trail and "alice@example.org" in trail  # what was seen, and that the envelope was not used
    assert rec["from"] in (None, "")


def test_a_forged_reply_from_is_not_read_as_the_user(db, seed, receive, task_with_reply):
    ref, addr = task_with_reply
    out = receive(_raw(["bob@example.org <mallory@evil.test>"], to=addr, body="Closing it.\n\n!close\n"),
                  sender="mallory@evil.test", to=[addr])
    assert (out.status, out.reason) == ("rejected", "unreadable_from")


def test_a_missing_from_still_uses_the_envelope_sender_and_says_so(db, seed, receive):
    raw = b"To: bugs@reply.example.com\r\nSubject: No From\r\nMessage-ID: <nofrom@x>\r\n\r\nHello.\r\n"
    out = receive(raw, sender="alice@example.org", to=["bugs@reply.example.com"])
    assert (out.status, out.actor) == ("processed", "alice")


def test_the_milter_refuses_it_with_550_when_all_recipients_are_ours(db, seed, settings):
    import Milter

    from mailgate.milter.adapter import Runtime

    from .milter.test_adapter import Conn

    res = Conn(Runtime(settings=settings, db=db)).send(_raw(["alice@example.org <mallory@evil.test>"]),
                                                      "alice@example.org", "bugs@reply.example.com")
    assert res["eom"] == Milter.REJECT and res["reply"][:2] == ("550", "5.7.1")
