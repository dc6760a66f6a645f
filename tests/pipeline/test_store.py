"""The store step: the row and the bytes, before anything else; an oversized message keeps its head only."""

from dataclasses import replace

from mailgate.shared.envelope import Envelope
from mailgate.shared.models import ReceivedMessage, ReceivedRaw
from mailgate.shared.outcomes import Reason, Status
from mailgate.shared.pipeline import Timings
from mailgate.shared.pipeline.steps import store


def test_arrival_reads_the_row_from_envelope_and_headers_without_a_database(settings, mail):
    w = store.arrival(settings, Envelope(sender="<alice@example.org>", recipients=[], queue_id="Q1"),
                      mail(subject="Hello there", to="bugs@reply.example.com"), Timings())
    values, kept = w.pending
    assert (values["status"], values["mail_from"], values["queue_id"]) == (Status.RECEIVED, "alice@example.org", "Q1")
    assert values["subject"] == "Hello there" and values["recipients_text"] == "bugs@reply.example.com"
    assert values["dedupe_key"].startswith("mid:") and w.row is None and kept.startswith(b"From:")


def test_an_oversized_message_is_decided_at_the_store_and_keeps_its_head(settings, mail):
    small = replace(settings, max_message_bytes=1000)
    raw = mail(body="x" * 5000)
    w = store.arrival(small, Envelope(recipients=["bugs@reply.example.com"]), raw, Timings())
    values, kept = w.pending
    assert (values["status"], values["reason"], values["truncated"]) == (Status.REJECTED, Reason.TOO_LARGE, True)
    assert len(kept) < 1000 and b"[body not kept" in kept and values["size"] == len(raw)


def test_run_commits_rows_and_bytes_of_the_whole_batch(db, settings, mail):
    raws = [mail(subject=s) for s in ("One", "Two")]
    batch = [store.arrival(settings, Envelope(recipients=["bugs@reply.example.com"]), raw, Timings()) for raw in raws]
    with db.pipeline() as conn:
        store.run(conn, batch)
    with db.read() as s:
        for w, raw in zip(batch, raws):
            assert (s.get(ReceivedMessage, w.row.id).subject, s.get(ReceivedRaw, w.row.id).raw) == (w.row.subject, raw)
    assert batch[0].pending is None and [w.row.status for w in batch] == [Status.RECEIVED] * 2
