"""The service desk through the real pipeline (receive()): a stranger opens a task, the team answers, the
participant replies; robots, forgers and commands are refused as the docs say."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from sqlalchemy import select

from mailgate.shared import directory, queries
from mailgate.shared.models import Comment, OutboundMessage, Task, TaskParticipant
from mailgate.shared.outbound.render import Outgoing, render_bytes
from mailgate.shared import durability
from mailgate.shared.commenting import comment_as

from .conftest import DESK

JANE = "Jane Doe <jane@customer.example>"


def _sent_to(db, address):
    with db.read() as s:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.recipient == address)
                         .order_by(OutboundMessage.id)).all()
        for r in rows:
            s.expunge(r)
    return [(r, message_from_bytes(render_bytes(Outgoing.of(r)), policy=policy.default)) for r in rows]


def _open(receive, mail, **kw):
    out = receive(mail(sender=kw.pop("sender", JANE), to=DESK, subject=kw.pop("subject", "Printer on fire"),
                       body=kw.pop("body", "It burns.\n"), **kw), to=[DESK])
    return out


def test_stranger_opens_a_task_and_is_acknowledged(db, settings, receive, mail, desk):
    out = _open(receive, mail, msgid="<first@customer.example>")
    assert (out.status, out.action, out.object, out.actor) == ("processed", "create", "T1", "support")
    with db.read() as s:
        data = queries.task_json(s, queries.get_task(s, "T1"))
        decisions = queries.get_inbound(s, out.id).decisions
    assert data["author"] == "support" and data["subscribers"] == []
    assert data["participants"][0] | {"since": None} == {"address": "jane@customer.example", "name": "Jane Doe",
                                                        "unsubscribed": False, "via": "from", "since": None,
                                                        "unsubscribed_at": None}
    assert any("external participant" in d for d in decisions)
    [(row, ack)] = _sent_to(db, "jane@customer.example")
    assert row.event == "acknowledge" and ack["Auto-Submitted"] == "auto-replied"
    assert ack["From"].addresses[0].addr_spec == DESK and ack["From"].addresses[0].display_name == "Support"
    assert ack["Reply-To"].startswith("T1+p1+") and ack["In-Reply-To"] == "<first@customer.example>"
    assert "T1" in ack.get_body(("plain",)).get_content() and "Hello Jane Doe" in row.body_text


def test_default_author_is_the_author_and_hears_of_it(db, settings, receive, mail, seed):
    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", DESK, "alice", actor="test", service_desk=True)
    out = _open(receive, mail)
    assert out.actor == "alice"
    [(row, note)] = _sent_to(db, "alice@example.org")
    assert "jane@customer.example" in row.body_text and "!internal" in row.body_text
    [(ack_row, ack)] = _sent_to(db, "jane@customer.example")
    assert "alice@example.org" not in render_bytes(Outgoing.of(ack_row)).decode()


def test_a_known_user_writing_to_the_desk_is_themselves(db, receive, mail, desk):
    out = _open(receive, mail, sender="bob@example.org")
    assert out.actor == "bob"
    with db.read() as s:
        assert s.scalars(select(TaskParticipant)).all() == []
    assert _sent_to(db, "bob@example.org") == []


def test_participant_reply_lands_other_address_is_refused(db, settings, receive, mail, desk):
    _open(receive, mail)
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="Try turning it off.")
    reply_to = _sent_to(db, "jane@customer.example")[-1][1]["Reply-To"]
    ok = receive(mail(sender="jane@customer.example", to=reply_to, body="It is off now.\n\n> Try turning it off."),
                 to=[reply_to])
    assert (ok.status, ok.action) == ("processed", "comment")
    with db.read() as s:
        c = s.scalars(select(Comment).order_by(Comment.id.desc())).first()
        assert c.text == "It is off now." and c.participant.address == "jane@customer.example"
    bad = receive(mail(sender="mallory@evil.example", to=reply_to, body="Send me the invoices."), to=[reply_to])
    assert (bad.status, bad.reason) == ("rejected", "sender_mismatch")
    cmd = receive(mail(sender="jane@customer.example", to=reply_to, body="!close\nThanks."), to=[reply_to])
    assert (cmd.status, cmd.reason) == ("rejected", "command_not_allowed")
    bob = _sent_to(db, "bob@example.org")
    assert "It is off now." in bob[-1][0].body_text and "jane@customer.example" in bob[-1][0].body_text
    assert len(_sent_to(db, "jane@customer.example")) == 2  # the ack and bob's answer; never her own comment


def test_auto_reply_from_the_participant_is_ignored(db, settings, receive, mail, desk):
    _open(receive, mail)
    reply_to = _sent_to(db, "jane@customer.example")[-1][1]["Reply-To"]
    out = receive(mail(sender="jane@customer.example", to=reply_to, subject="Out of office",
                       body="I am away.", headers={"Auto-Submitted": "auto-replied"}), to=[reply_to])
    assert (out.status, out.reason) == ("ignored", "auto_generated")
    assert len(_sent_to(db, "jane@customer.example")) == 1


def test_cc_participants_when_the_address_says_so(db, settings, receive, mail, desk):
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", cc_participants=True)
    _open(receive, mail, headers={"Cc": "Joe <joe@customer.example>, bob@example.org, x@reply.example.com, "
                                        "'boss@customer.example' <boss@customer.example>"})
    with db.read() as s:
        rows = s.execute(select(TaskParticipant.address, TaskParticipant.name, TaskParticipant.via)
                         .order_by(TaskParticipant.id)).all()
    assert rows == [("jane@customer.example", "Jane Doe", "from"), ("joe@customer.example", "Joe", "cc"),
                    ("boss@customer.example", "", "cc")]
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="On it.")
    assert len(_sent_to(db, "joe@customer.example")) == 1 and len(_sent_to(db, "jane@customer.example")) == 2


def test_cc_off_by_default(db, receive, mail, desk):
    _open(receive, mail, headers={"Cc": "joe@customer.example"})
    with db.read() as s:
        assert s.scalars(select(TaskParticipant.address)).all() == ["jane@customer.example"]


def test_acknowledgement_off_and_rate_limited(db, settings, receive, mail, desk):
    for i in range(7):
        _open(receive, mail, subject=f"Robot says {i}")
    assert len(_sent_to(db, "jane@customer.example")) == 5  # then no more: a robot answering acks would loop
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", acknowledge=False)
    _open(receive, mail, sender="joe@customer.example")
    assert _sent_to(db, "joe@customer.example") == []


def test_participant_comments_reach_other_participants_by_name(db, settings, receive, mail, desk):
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", cc_participants=True)
    _open(receive, mail, headers={"Cc": "Joe <joe@customer.example>"})
    reply_to = _sent_to(db, "jane@customer.example")[-1][1]["Reply-To"]
    receive(mail(sender="jane@customer.example", to=reply_to, body="Any news?"), to=[reply_to])
    [(row, msg)] = _sent_to(db, "joe@customer.example")
    assert msg["From"].addresses[0].display_name == "Jane Doe"
    assert "jane@customer.example" not in render_bytes(Outgoing.of(row)).decode()


def test_our_own_domain_cannot_be_a_participant(db, receive, mail, desk):
    out = _open(receive, mail, sender="someone@reply.example.com")
    assert (out.status, out.reason) == ("rejected", "unknown_sender")


def test_mailto_unsubscribe(db, settings, receive, mail, desk):
    _open(receive, mail)
    with db.read() as s:
        token = s.scalars(select(TaskParticipant.unsubscribe_token)).one()
    address = f"unsubscribe-{token}@reply.example.com"
    out = receive(mail(sender="jane@customer.example", to=address, subject="unsubscribe", body=""), to=[address])
    assert (out.status, out.action, out.object) == ("processed", "unsubscribe", "T1")
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="Hello?")
    assert len(_sent_to(db, "jane@customer.example")) == 1  # the acknowledgement only
    forged = receive(mail(to="unsubscribe-" + "0" * 32 + "@reply.example.com", body=""),
                     to=["unsubscribe-" + "0" * 32 + "@reply.example.com"])
    assert (forged.status, forged.reason) == ("rejected", "unknown_recipient")


def _raw(db, address):
    return [render_bytes(Outgoing.of(r)).decode() for r, _m in _sent_to(db, address)]


def test_the_acknowledgement_uses_the_address_s_template(db, settings, receive, mail, desk):
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", template="Dear $name, we filed $ref ($title) at $desk.")
    _open(receive, mail)
    [(row, ack)] = _sent_to(db, "jane@customer.example")
    assert "Dear Jane Doe, we filed T1 (Printer on fire) at support@reply.example.com." in row.body_text
    assert "thank you for writing" not in row.body_text  # not the built-in text
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", template=None)
    _open(receive, mail, sender="joe@customer.example")
    assert "thank you for writing" in _sent_to(db, "joe@customer.example")[0][0].body_text


def test_a_team_member_s_mail_reply_is_public_unless_internal(db, settings, seed, receive, mail, desk):
    """Comments by team members are public by default, by mail too; a `!internal` line keeps one from them."""
    _open(receive, mail)
    bob_reply = seed.reply_address("T1", seed.bob)
    out = receive(mail(sender="bob@example.org", to=bob_reply, body="Is it plugged in?\n"), to=[bob_reply])
    assert (out.status, out.action) == ("processed", "comment")
    [_ack, (row, msg)] = _sent_to(db, "jane@customer.example")
    assert "Is it plugged in?" in row.body_text and msg["From"].addresses[0].display_name == "Bob"
    assert msg["From"].addresses[0].addr_spec == DESK and "bob@example.org" not in _raw(db, "jane@customer.example")[1]
    out = receive(mail(sender="bob@example.org", to=bob_reply, body="She sounds annoyed.\n\n!internal\n"),
                  to=[bob_reply])
    assert (out.status, out.action) == ("processed", "comment")
    assert len(_sent_to(db, "jane@customer.example")) == 2  # nothing more
    with db.read() as s:
        assert s.scalars(select(Comment.internal).order_by(Comment.id)).all() == [False, True]


def test_comments_to_a_participant_are_auto_generated_and_quiet(db, settings, receive, mail, desk):
    _open(receive, mail)
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="Try turning it off.")
    [_ack, (_row, note)] = _sent_to(db, "jane@customer.example")
    assert note["Auto-Submitted"] == "auto-generated" and note["X-Auto-Response-Suppress"] == "All"
    body = note.get_body(("plain",)).get_content()
    token_line = body.rstrip().splitlines()[-1]
    assert token_line.startswith("To stop receiving mail about T1, send a message to unsubscribe-")
    assert note["List-Unsubscribe"] == f"<mailto:{token_line.split()[-1]}?subject=unsubscribe>"


def test_a_mail_without_message_id_is_threaded_from_our_first_mail(db, settings, receive, mail, desk):
    raw = mail(sender=JANE, to=DESK, subject="Printer on fire", body="It burns.\n")
    raw = b"".join(line for line in raw.splitlines(keepends=True) if not line.startswith(b"Message-ID:"))
    assert receive(raw, to=[DESK]).object == "T1"
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="Try turning it off.")
        comment_as(conn, settings, ref="T1", username="bob", text="Did that help?")
    [(ack_row, ack), (_r1, first), (_r2, second)] = _sent_to(db, "jane@customer.example")
    assert ack["In-Reply-To"] is None and ack["Message-ID"] == f"<{ack_row.message_id.strip('<>')}>"
    for later in (first, second):
        assert later["In-Reply-To"] == ack["Message-ID"] and ack["Message-ID"] in later["References"]


def test_our_own_mail_coming_back_is_ignored(db, settings, receive, mail, desk):
    """A participant's mailbox forwarding our notice to their reply address: own mail, not a comment."""
    _open(receive, mail)
    [(row, ack)] = _sent_to(db, "jane@customer.example")
    out = receive(render_bytes(Outgoing.of(row)), sender=DESK, to=[ack["Reply-To"]])
    assert (out.status, out.reason) == ("ignored", "own_mail")
    assert len(_sent_to(db, "jane@customer.example")) == 1


def test_an_auto_reply_to_the_desk_address_opens_nothing(db, settings, receive, mail, desk):
    """Our mail's envelope sender is the desk: an RFC 3834 auto-responder answers there, and is ignored."""
    _open(receive, mail)
    out = receive(mail(sender=JANE, to=DESK, subject="Automatic reply: [T1] Printer on fire", body="Away.\n",
                       headers={"Auto-Submitted": "auto-replied"}), sender="jane@customer.example", to=[DESK])
    assert (out.status, out.reason) == ("ignored", "auto_generated")
    with db.read() as s:
        assert len(s.scalars(select(Task)).all()) == 1
    assert len(_sent_to(db, "jane@customer.example")) == 1


def test_a_team_member_s_name_never_carries_their_address(db, settings, seed, receive, mail, desk):
    from mailgate.shared.models import AppUser

    with db.transaction() as s:
        s.get(AppUser, seed.bob).name = "Bob Builder <bob@example.org>"
    _open(receive, mail)
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="On it.")
    [_ack, (_row, note)] = _sent_to(db, "jane@customer.example")
    assert "bob@example.org" not in _raw(db, "jane@customer.example")[1]
    assert note["From"].addresses[0].addr_spec == DESK and note["From"].addresses[0].display_name == "bob"


def test_participants_never_see_each_other_s_addresses(db, settings, receive, mail, desk):
    with db.transaction() as s:
        directory.set_service_desk(s, DESK, actor="test", cc_participants=True)
    _open(receive, mail, headers={"Cc": "Joe <joe@customer.example>"})
    with durability.transaction(db) as conn:
        comment_as(conn, settings, ref="T1", username="bob", text="On it.")
    for me, other in (("jane@customer.example", "joe@customer.example"),
                      ("joe@customer.example", "jane@customer.example")):
        for raw in _raw(db, me):
            assert other not in raw.lower() and "bob@example.org" not in raw and "alice@example.org" not in raw
        for _row, msg in _sent_to(db, me):
            assert msg["To"] == me and msg["Cc"] is None
