"""A refused message keeps its headers and the first 64 KB of its body, recorded truncated (issue 20 item 4).

Anyone can make Mailgate refuse a message; a 9 MB message refused with 550
used to keep its 9 MB. Now only what an admin needs to see why is kept.
"""

from __future__ import annotations

import pytest

from mailgate.shared.models import ReceivedMessage, ReceivedRaw
from mailgate.shared.pipeline import NotReprocessable, reprocess
from mailgate.shared.pipeline.steps.record import REFUSED_KEEP_BODY


def _stored(db, rec_id: int) -> tuple[ReceivedMessage, bytes]:
    with db.read() as s:
        rec = s.get(ReceivedMessage, rec_id)
        raw = s.get(ReceivedRaw, rec_id).raw
        s.expunge_all()
        return rec, raw


def _big(mail, sender: str, to: str = "bugs@reply.example.com", kb: int = 1024) -> bytes:
    return mail(sender=sender, to=to, subject="A large one", body=("x" * 99 + "\n") * (kb * 1024 // 100))


def test_a_refused_message_keeps_its_head_and_64_kb(db, seed, receive, mail):
    raw = _big(mail, "stranger@example.com")
    out = receive(raw)
    assert (out.status, out.reason) == ("rejected", "unknown_sender")
    rec, kept = _stored(db, out.id)
    head_end = raw.index(b"\n\n") + 2
    assert rec.truncated and rec.size == len(raw)
    assert kept.startswith(raw[:head_end + REFUSED_KEEP_BODY])
    assert len(kept) < head_end + REFUSED_KEEP_BODY + 200  # plus a line saying the rest was not kept
    assert b"not kept" in kept[head_end + REFUSED_KEEP_BODY:]
    with pytest.raises(NotReprocessable, match="only its headers and the first 64 KB"):
        reprocess(db, seed.settings, out.id)


def test_small_refused_and_large_processed_messages_are_kept_whole(db, seed, receive, mail):
    small = mail(sender="stranger@example.com", body="Short.\n")
    out = receive(small)
    rec, kept = _stored(db, out.id)
    assert out.status == "rejected" and kept == small and not rec.truncated
    big = _big(mail, "alice@example.org")
    out = receive(big)
    rec, kept = _stored(db, out.id)
    assert out.status == "processed" and kept == big and not rec.truncated


def test_ignored_mail_is_not_cut(db, seed, receive, mail):
    """A bounce may be needed whole to see what went wrong with a notification; it is purged after 14 days."""
    raw = _big(mail, "alice@example.org", kb=200).replace(b"Subject:", b"Auto-Submitted: auto-replied\nSubject:", 1)
    out = receive(raw)
    rec, kept = _stored(db, out.id)
    assert out.status == "ignored" and kept == raw and not rec.truncated
