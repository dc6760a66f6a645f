"""receive(): each of the eight steps, and every reason code of the vocabulary."""

from __future__ import annotations

import os
import random

import pytest
from sqlalchemy import func, select

from mailgate.shared import durability, keys, tracker
from mailgate.shared.addresses import check_recipient
from mailgate.shared.config import from_env
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.models import (
    Attachment, Comment, MessageClaim, OutboundMessage, ReceivedMessage, ReceivedRaw, Task,
)
from mailgate.shared.outcomes import Reason, Status, TempFail
from mailgate.shared.pipeline import NotReprocessable, receive as pipeline_receive, reprocess
from mailgate.shared.rows import task_by_id, user_by_id


def rec_of(db, out) -> ReceivedMessage:
    with db.read() as s:
        rec = s.get(ReceivedMessage, out.id)
        s.expunge(rec)
        return rec


def task_of(db, ref: str) -> dict:
    from mailgate.shared.queries import get_task, task_json

    with db.read() as s:
        return task_json(s, get_task(s, ref))


# --- 1. store first ---------------------------------------------------------------------

def test_everything_is_stored_with_its_envelope(db, seed, receive, mail):
    raw = mail(subject="Stored")
    out = pipeline_receive(db, seed.settings, Envelope(
        source="milter", sender="alice@example.org", recipients=["bugs@reply.example.com"],
        client_addr="192.0.2.1", client_name="mx.example.org", helo="mx.example.org", queue_id="4ABC",
    ), raw)
    with db.read() as s:
        rec = s.get(ReceivedMessage, out.id)
        assert s.get(ReceivedRaw, out.id).raw == raw
        assert (rec.source, rec.mail_from, rec.rcpt_to, rec.queue_id, rec.client_addr, rec.helo) == (
            "milter", "alice@example.org", ["bugs@reply.example.com"], "4ABC", "192.0.2.1", "mx.example.org")
        assert rec.status == "processed" and rec.processed_at is not None


def test_too_large_is_refused_before_parsing(db, env, seed, mail):
    small = from_env({**env, "MAILGATE_MAX_MESSAGE_BYTES": "2048"})
    raw = mail(body="x" * 5000)
    out = pipeline_receive(db, small, Envelope(recipients=["bugs@reply.example.com"]), raw)
    assert (out.status, out.reason) == (Status.REJECTED, Reason.TOO_LARGE)
    rec = rec_of(db, out)
    assert rec.truncated and rec.size == len(raw) and rec.parse is None
    with db.read() as s:
        kept = s.get(ReceivedRaw, out.id).raw
    assert len(kept) < len(raw) and b"Subject: Hello" in kept


def test_only_the_head_of_an_oversized_message_handed_over_is_too_large_by_its_real_size(db, env, seed, mail):
    """The milter keeps only the headers of a message it lets through for other recipients."""
    small = from_env({**env, "MAILGATE_MAX_MESSAGE_BYTES": "2048"})
    head = mail(body="").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    out = pipeline_receive(db, small, Envelope(recipients=["bugs@reply.example.com"], size=50_000), head)
    assert (out.status, out.reason) == (Status.REJECTED, Reason.TOO_LARGE) and "50,000 bytes" in out.text
    rec = rec_of(db, out)
    assert rec.truncated and rec.size == 50_000


def test_a_size_past_the_size_column_is_stored_as_its_largest(db, env, seed, mail):
    from mailgate.shared.queries import MAX_ID

    small = from_env({**env, "MAILGATE_MAX_MESSAGE_BYTES": "2048"})
    out = pipeline_receive(db, small, Envelope(recipients=["bugs@reply.example.com"], size=2**40), mail(body=""))
    assert out.reason == Reason.TOO_LARGE and rec_of(db, out).size == MAX_ID


def test_unavailable_database_is_a_tempfail_not_a_loss(tmp_path, settings, mail):
    dead = Database(f"sqlite:///{tmp_path}/missing-dir/nope.db")
    with pytest.raises(TempFail):
        pipeline_receive(dead, settings, Envelope(), mail())


# --- 2. dedupe --------------------------------------------------------------------------

def test_second_copy_is_a_duplicate_and_does_nothing(db, seed, receive, mail):
    raw = mail(msgid="<same@example.org>")
    first, second = receive(raw), receive(raw)
    assert first.status == "processed"
    assert (second.status, second.reason, second.duplicate_of) == ("ignored", "duplicate", first.id)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 1


def test_without_message_id_the_digest_dedupes(db, seed, receive):
    raw = b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: no id\r\n\r\nbody\r\n"
    assert receive(raw).status == "processed"
    assert receive(raw).reason == "duplicate"
    assert receive(raw.replace(b"body", b"other body")).status == "processed"


def test_a_rejected_message_does_not_claim_its_message_id(db, seed, receive, mail):
    """A sender who fixes the problem and re-sends the same message must not be told 'duplicate'."""
    raw = mail(sender="stranger@example.com", msgid="<fixme@example.com>")
    assert receive(raw).reason == "unknown_sender"
    with db.transaction() as s:
        from mailgate.shared import directory
        directory.add_user(s, "stranger", ["stranger@example.com"], settings=seed.settings, actor="test")
    assert receive(raw).status == "processed"


# --- 3. robots and loops ----------------------------------------------------------------

@pytest.mark.parametrize("headers,reason", [
    ({"Auto-Submitted": "auto-replied"}, "auto_generated"),
    ({"Auto-Submitted": "auto-generated"}, "auto_generated"),
    ({"X-Autoreply": "yes"}, "auto_generated"),
    ({"Precedence": "bulk"}, "auto_generated"),
    ({"Precedence": "junk"}, "auto_generated"),
    ({"Precedence": "list"}, "auto_generated"),
    ({"Precedence": "auto_reply"}, "auto_generated"),
    ({"X-Mailgate-Notification": "42"}, "own_mail"),
])
def test_robots_and_own_mail_are_ignored(db, seed, receive, mail, task_with_reply, headers, reason):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body="I am away.", headers=headers))
    assert (out.status, out.reason) == ("ignored", reason)
    assert task_of(db, "T1")["comments"] == []


def test_auto_submitted_no_is_a_human(db, seed, receive, mail):
    assert receive(mail(headers={"Auto-Submitted": "no"})).status == "processed"


def test_null_sender_is_a_bounce(db, seed, receive, mail):
    out = receive(mail(), sender="<>", to=["bugs@reply.example.com"])
    assert (out.status, out.reason, out.robot) == ("ignored", "bounce", "bounce")


def test_delivery_status_report_is_a_bounce(db, seed, receive):
    raw = (b"From: MAILER-DAEMON@mx.example.org\r\nTo: bugs@reply.example.com\r\nSubject: failure\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
           b"--XX\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
           b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           b"--XX--\r\n")
    out = receive(raw, sender="bounces@example.org")
    assert (out.status, out.reason) == ("ignored", "bounce")


# --- 4. routing -------------------------------------------------------------------------

def test_envelope_recipients_are_the_truth(db, seed, receive, mail):
    raw = mail(to="someone@elsewhere.org")
    out = receive(raw, to=["BUGS@reply.example.com"])
    assert out.status == "processed" and out.action == "create"
    assert "envelope" in " ".join(rec_of(db, out).decisions)


@pytest.mark.parametrize("header", ["Cc", "Delivered-To", "Envelope-To", "X-Envelope-To"])
def test_without_envelope_route_by_headers(db, seed, receive, mail, header):
    out = receive(mail(to="someone@elsewhere.org", headers={header: "bugs@reply.example.com"}))
    assert out.status == "processed", out


def test_no_mailgate_recipient_is_unknown_recipient(db, seed, receive, mail):
    out = receive(mail(to="someone@elsewhere.org"))
    assert (out.status, out.reason) == ("rejected", "unknown_recipient")


def test_unknown_address_at_our_domain(db, seed, receive, mail):
    out = receive(mail(to="nosuch@reply.example.com"))
    assert (out.status, out.reason) == ("rejected", "unknown_recipient")


def test_reserved_names_are_never_application_addresses(db, seed, receive, mail):
    out = receive(mail(to="postmaster@reply.example.com"))
    assert (out.status, out.reason) == ("rejected", "unknown_recipient")


def test_reply_wins_over_a_copied_create_address(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=f"bugs@reply.example.com, {addr}", body="Both."))
    assert (out.action, out.object) == ("comment", "T1")


# --- 5. authorisation -------------------------------------------------------------------

def test_invalid_hash(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    local, domain = addr.split("@")
    # Four other hex digits, never the real ones (the key is random: 1 in 65536 digests end in 0000).
    forged = local[:-4] + ("0000" if not local.endswith("0000") else "1111")
    out = receive(mail(sender="bob@example.org", to=forged + "@" + domain))
    assert (out.status, out.reason) == ("rejected", "invalid_hash")


def test_rotated_key_rejects_old_addresses(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    with db.transaction() as s:
        keys.rotate_key(s)
    out = receive(mail(sender="bob@example.org", to=addr))
    assert (out.status, out.reason) == ("rejected", "invalid_hash")


def test_object_not_found(db, seed, receive, mail):
    addr = seed.reply_address("T77", seed.bob)
    out = receive(mail(sender="bob@example.org", to=addr))
    assert (out.status, out.reason) == ("rejected", "object_not_found")


def test_sender_mismatch(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="carol@example.org", to=addr, body="Not mine."))
    assert (out.status, out.reason) == ("rejected", "sender_mismatch")
    assert task_of(db, "T1")["comments"] == []


def test_any_of_the_users_addresses_matches_case_insensitively(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="Bob <BOB.WORK@example.net>", to=addr, body="From work."))
    assert (out.status, out.actor) == ("processed", "bob")


def test_disabled_user_cannot_reply(db, seed, receive, mail, task_with_reply):
    from mailgate.shared import directory

    _, addr = task_with_reply
    with db.transaction() as s:
        directory.set_user_enabled(s, "bob", False, actor="test")
    out = receive(mail(sender="bob@example.org", to=addr))
    assert out.reason == "sender_mismatch" and "the account is disabled" in out.text
    assert "bob" not in out.text.replace("bob@example.org", "")  # the sender hears no account name


def test_disabled_user_cannot_open_tasks_even_where_a_default_author_would(db, seed, receive, mail):
    from mailgate.shared import directory

    with db.transaction() as s:
        directory.set_default_author(s, "bugs@reply.example.com", "carol", actor="test")
        directory.set_user_enabled(s, "bob", False, actor="test")
    out = receive(mail(sender="bob@example.org", subject="Filed while disabled"))
    assert (out.status, out.reason) == ("rejected", "unknown_sender") and "disabled" in out.text
    assert receive(mail(sender="stranger@example.com")).actor == "carol"  # the default author still works


def test_unknown_sender_on_create_address(db, seed, receive, mail):
    out = receive(mail(sender="stranger@example.com"))
    assert (out.status, out.reason) == ("rejected", "unknown_sender")


def test_default_author_opens_the_address_to_unknown_senders(db, seed, receive, mail):
    from mailgate.shared import directory

    with db.transaction() as s:
        directory.set_default_author(s, "bugs@reply.example.com", "carol", actor="test")
    out = receive(mail(sender="stranger@example.com", subject="From outside"))
    assert (out.status, out.actor) == ("processed", "carol")


def test_public_replies(db, env, seed, mail, task_with_reply):
    public = from_env({**env, "MAILGATE_PUBLIC_REPLIES": "1"})
    addr = seed.reply_address("T1", None).replace("+public+", "+public+")  # issued under default settings
    from mailgate.shared.addresses import reply_address

    with db.read() as s:
        addr = reply_address(public, keys.current_key(s), "T1", None)

    def run(sender, body):
        return pipeline_receive(db, public, Envelope(recipients=[addr]), mail(sender=sender, to=addr, body=body))

    assert run("carol@example.org", "Any known user may reply.").status == "processed"
    assert run("stranger@example.com", "Not known.").reason == "sender_mismatch"
    assert run("carol@example.org", "Closing it.\n\n!close").reason == "command_not_allowed"


# --- 6. parse ---------------------------------------------------------------------------

def test_quotes_and_signature_are_trimmed(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    body = ("Fixed the toner.\n\n-- \nBob\n\nOn Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n"
            "> It burns.\n")
    out = receive(mail(sender="bob@example.org", to=addr, body=body))
    assert out.status == "processed"
    assert task_of(db, "T1")["comments"][0]["text"] == "Fixed the toner."
    parse = rec_of(db, out).parse
    assert "It burns." in parse["quoted"] + parse["signature"] and parse["cuts"]


def test_html_only_reply_drops_the_blockquote(db, seed, receive, task_with_reply):
    _, addr = task_with_reply
    raw = (f"From: bob@example.org\r\nTo: {addr}\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n"
           "<div>New <b>words</b> here.</div><blockquote>old quoted text</blockquote>\r\n").encode()
    out = receive(raw)
    assert out.status == "processed"
    text = task_of(db, "T1")["comments"][0]["text"]
    assert "New words here." in text and "old quoted" not in text


def test_empty_reply_is_rejected(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body="On Mon, 2 Nov 2026 at 10:00, Alice <alice@example.org> wrote:\n> It burns.\n"))
    assert (out.status, out.reason) == ("rejected", "empty")


def test_attachments_are_kept(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body="Log attached.",
                       attachments=[("log.txt", "text/plain", b"line 1\nline 2\n")]))
    assert out.status == "processed"
    c = task_of(db, "T1")["comments"][0]
    assert c["attachments"][0]["name"] == "log.txt" and c["attachments"][0]["size"] == 14
    with db.read() as s:
        assert s.scalars(select(Attachment.data)).one() == b"line 1\nline 2\n"


# --- 7. act: commands, comments, notifications ------------------------------------------

def test_create_applies_commands_and_subscribes(db, seed, receive, mail):
    out = receive(mail(subject="Broken", body="!priority high\nIt is broken.\n!assign bob"))
    assert (out.action, out.object, out.actor) == ("create", "T1", "alice")
    assert sorted(out.commands) == ["assign bob", "priority high"]
    t = task_of(db, "T1")
    assert (t["title"], t["priority"], t["assignee"], t["description"]) == ("Broken", "high", "bob", "It is broken.")
    assert t["subscribers"] == ["alice", "bob"]


@pytest.mark.parametrize("commands,expect", [
    ("!close", {"status": "closed"}),
    ("!priority urgent", {"priority": "urgent"}),
    ("!assign carol", {"assignee": "carol"}),
])
def test_reply_commands(db, seed, receive, mail, task_with_reply, commands, expect):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body=f"Done.\n\n{commands}"))
    assert out.status == "processed" and out.commands == [commands[1:]]
    t = task_of(db, "T1")
    for key, value in expect.items():
        assert t[key] == value
    assert t["comments"][0]["text"] == "Done."


def test_reopen_subscribe_unsubscribe(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    receive(mail(sender="bob@example.org", to=addr, body="!close"))
    assert task_of(db, "T1")["status"] == "closed"
    out = receive(mail(sender="bob@example.org", to=addr, body="!reopen\n!unsubscribe"))
    assert out.status == "processed" and task_of(db, "T1")["status"] == "open"
    assert task_of(db, "T1")["subscribers"] == ["alice"]
    carol = seed.reply_address("T1", seed.carol)
    receive(mail(sender="carol@example.org", to=carol, body="!subscribe"))
    assert task_of(db, "T1")["subscribers"] == ["alice", "carol"]


def test_unknown_command_still_lands_the_comment(db, seed, receive, mail, task_with_reply):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body="Looks good.\n\n!frobnicate now"))
    assert out.status == "processed" and out.unknown_commands == ["frobnicate now"]
    assert task_of(db, "T1")["comments"][0]["text"] == "Looks good."


@pytest.mark.parametrize("line", ["!priority banana", "!assign nobody", "!close now"])
def test_bad_command_arguments_are_refused_whole(db, seed, receive, mail, task_with_reply, line):
    _, addr = task_with_reply
    out = receive(mail(sender="bob@example.org", to=addr, body=f"Text.\n\n{line}"))
    assert (out.status, out.reason) == ("rejected", "command_not_allowed")
    assert line.split()[1] in out.text
    assert task_of(db, "T1")["comments"] == []


def test_one_notification_per_other_subscriber_with_a_personal_reply_address(db, settings, seed, receive, mail,
                                                                           task_with_reply):
    _, addr = task_with_reply
    with durability.transaction(db) as conn:
        tracker.subscribe(conn, task_by_id(conn, 1), user_by_id(conn, seed.carol))
    out = receive(mail(sender="bob@example.org", to=addr, body="Comment for everyone."))
    with db.read() as s, db.reading() as conn:
        rows = s.scalars(select(OutboundMessage).where(OutboundMessage.source_received_id == out.id)).all()
        assert sorted(r.recipient for r in rows) == ["alice@example.org", "carol@example.org"]
        for r in rows:
            rcpt = check_recipient(conn, settings, r.reply_to)
            assert rcpt.token.user_id == r.user_id and r.subject == "[T1] Printer on fire"
            assert "Comment for everyone." in r.body_text


# --- 8. record, failure, reprocess ------------------------------------------------------

def test_crash_is_failed_with_traceback_and_reprocessable(db, seed, receive, mail, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tracker, "create_task", boom)
    out = receive(mail(subject="Crashes"))
    assert (out.status, out.reason) == ("failed", "internal_error")
    rec = rec_of(db, out)
    assert "disk on fire" in rec.error and "Traceback" in rec.error
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(MessageClaim)) == 0
    monkeypatch.undo()
    again = reprocess(db, seed.settings, out.id)
    assert (again.id, again.status, again.action) == (out.id, "processed", "create")
    with pytest.raises(NotReprocessable):
        reprocess(db, seed.settings, out.id)


def test_rejected_message_can_be_reprocessed_after_a_fix(db, seed, receive, mail):
    from mailgate.shared import directory

    out = receive(mail(sender="late@example.com"))
    assert out.reason == "unknown_sender"
    with db.transaction() as s:
        directory.add_user(s, "late", ["late@example.com"], settings=seed.settings, actor="test")
    assert reprocess(db, seed.settings, out.id).status == "processed"


# --- hostile input ----------------------------------------------------------------------

def test_encoded_crlf_in_subject_never_becomes_a_header_line(db, seed, receive):
    raw = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\n"
           b"Subject: =?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Eorg?=\r\n\r\nBody\r\n")
    out = receive(raw)
    rec = rec_of(db, out)
    assert "\r" not in rec.subject and "\n" not in rec.subject
    assert rec.subject == "Hello Bcc: victim@example.org"
    assert "\n" not in task_of(db, "T1")["title"]
    with db.read() as s:
        for row in s.scalars(select(OutboundMessage)).all():
            assert "\n" not in row.subject


@pytest.mark.parametrize("seed_value", range(12))
def test_any_bytes_give_a_stored_message_with_a_status(db, seed, receive, seed_value):
    rnd = random.Random(seed_value)
    size = rnd.choice([0, 1, 10, 200, 5000])
    raw = bytes(rnd.getrandbits(8) for _ in range(size))
    if seed_value % 3 == 0:
        raw = b"To: bugs@reply.example.com\r\nFrom: alice@example.org\r\n" + raw
    out = receive(raw)
    assert out.id is not None and out.status in ("processed", "ignored", "rejected")


def test_nul_bytes_and_broken_charsets(db, seed, receive):
    raw = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: =?x-unknown?q?caf=E9?=\r\n"
           b"Content-Type: text/plain; charset=x-nonsense\r\n\r\nCaf\xe9 \x00 ol\xe9\r\n")
    out = receive(raw)
    assert out.status == "processed"
    assert "Caf" in task_of(db, "T1")["description"]


def test_stale_received_messages_are_recovered_once(db, settings, seed, mail):
    """A crash between store and outcome leaves 'received'; recovery finishes it, exactly once."""
    from mailgate.shared.pipeline import recover_stale, store

    rec, _ = store(db, settings, Envelope(recipients=[seed.create_address]), mail(subject="Stuck"))
    assert recover_stale(db, settings, older_than_seconds=3600) == []  # too young
    (out,) = recover_stale(db, settings, older_than_seconds=0)
    assert (out.id, out.status, out.action) == (rec.id, "processed", "create")
    assert recover_stale(db, settings, older_than_seconds=0) == []
    # a second stored copy of the same message, also stuck, becomes a duplicate
    rec2, _ = store(db, settings, Envelope(recipients=[seed.create_address]),
                    mail(subject="Stuck", msgid=rec.message_id and f"<{rec.message_id}>"))
    (dup,) = recover_stale(db, settings, older_than_seconds=0)
    assert (dup.id, dup.reason) == (rec2.id, "duplicate")


def test_a_message_another_worker_acted_on_meanwhile_keeps_that_outcome(db, settings, seed, mail):
    """Two hosts' recover_stale take the same stale message: the second finds its claim held by the
    message itself and leaves the first's outcome (it used to record it as a duplicate of itself)."""
    from mailgate.shared import pipeline

    envelope = Envelope(source="pipe", sender="alice@example.org", recipients=["bugs@reply.example.com"])
    rec, msg = pipeline.store(db, settings, envelope, mail(subject="Left received"))
    first = reprocess(db, settings, rec.id)  # host 1
    second = pipeline.process(db, settings, rec, msg, envelope)  # host 2, from what it read before
    assert (first.status, first.action) == ("processed", "create")
    assert (second.status, second.action, second.object) == ("processed", "create", first.object)
    stored = rec_of(db, first)
    assert (stored.status, stored.reason, stored.duplicate_of, stored.task_id) == ("processed", None, None, 1)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == 1


def test_a_stale_copy_refused_by_later_steps_does_not_overwrite_the_first_workers_outcome(db, settings, seed, mail):
    """The second worker's own checks would now refuse it (the sender was disabled meanwhile): the
    message was already acted on, and that stays its outcome."""
    from mailgate.shared import directory, pipeline

    envelope = Envelope(source="pipe", sender="alice@example.org", recipients=["bugs@reply.example.com"])
    rec, msg = pipeline.store(db, settings, envelope, mail(subject="Left received"))
    first = reprocess(db, settings, rec.id)
    with db.transaction() as s:
        directory.set_user_enabled(s, "alice", False, actor="test")
    second = pipeline.process(db, settings, rec, msg, envelope)
    assert (first.status, second.status, second.object) == ("processed", "processed", first.object)
    assert rec_of(db, first).status == "processed"


def test_a_reused_message_id_for_another_object_is_not_a_duplicate(db, seed, receive, mail, task_with_reply):
    """Issue 20 item 11: the second message, to another task, was dropped as a duplicate of the first."""
    _, first = task_with_reply
    other = receive(mail(subject="Scanner on fire", body="Also burning.\n"))
    second = seed.reply_address(other.object, seed.bob)
    a = receive(mail(sender="bob@example.org", to=first, msgid="<reused@example.org>", body="For the printer."),
                to=[first])
    b = receive(mail(sender="bob@example.org", to=second, msgid="<reused@example.org>", body="For the scanner."),
                to=[second])
    assert (a.status, b.status, b.object) == ("processed", "processed", other.object)
    again = receive(mail(sender="bob@example.org", to=first, msgid="<reused@example.org>", body="For the printer."),
                    to=[first])
    assert (again.status, again.reason) == ("ignored", "duplicate")  # a retry of the first is still one
