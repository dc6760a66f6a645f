"""What gets queued for a task event: who, with which Reply-To, which headers, which bodies."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from mailgate.shared import durability, tracker
from mailgate.shared.guard import OWN_MAIL_HEADER
from mailgate.shared.models import AppUser, OutboundMessage
from mailgate.shared.notify import queue_task_event
from mailgate.shared.outbound.compose import html_from_text
from mailgate.shared.outbound.render import Outgoing, render, render_bytes
from mailgate.shared.rows import task_by_id, user_by_id


def _rows(s, task_id):
    return list(s.scalars(select(OutboundMessage).where(OutboundMessage.task_id == task_id)
                          .order_by(OutboundMessage.id)))


def test_an_event_notifies_everyone_but_the_actor(db, settings, seed, task_with_reply):
    ref, _ = task_with_reply
    with db.read() as s:
        before = len(_rows(s, int(ref[1:])))
    with durability.transaction(db) as conn:
        task, carol = task_by_id(conn, int(ref[1:])), user_by_id(conn, seed.carol)
        tracker.subscribe(conn, task, carol)
        task.priority = "high"
        rows = queue_task_event(conn, settings, task=task, actor=carol, events=["priority:high"])
    with db.read() as s:
        assert len(_rows(s, task.id)) == before + 2
    assert sorted(r.recipient for r in rows) == ["alice@example.org", "bob@example.org"]
    assert {r.event for r in rows} == {"priority"}
    assert all(r.source_received_id is None for r in rows)
    for r in rows:
        assert "Carol changed the priority to high." in r.body_text
        assert r.headers["References"] == f"<{task.thread_id}>"  # answers the thread root
        assert r.headers["Auto-Submitted"] == "auto-generated" and OWN_MAIL_HEADER in r.headers
        assert r.reply_to.startswith(f"{ref}+{r.user_id}+")


def test_disabled_and_addressless_subscribers_get_nothing(db, settings, seed, task_with_reply):
    ref, _ = task_with_reply
    with db.transaction() as s:
        s.get(AppUser, seed.bob).enabled = False
    with durability.transaction(db) as conn:
        task, alice = task_by_id(conn, int(ref[1:])), user_by_id(conn, seed.alice)
        assert queue_task_event(conn, settings, task=task, actor=alice, events=["closed"]) == []


def test_public_replies_send_one_message_to_all(db, settings, seed, task_with_reply):
    ref, _ = task_with_reply
    public = replace(settings, public_replies=True)
    with durability.transaction(db) as conn:
        task = task_by_id(conn, int(ref[1:]))
        tracker.subscribe(conn, task, user_by_id(conn, seed.carol))
        (row,) = queue_task_event(conn, public, task=task, actor=user_by_id(conn, seed.alice), events=["commented"],
                                  new_text="Hello all")
    assert row.user_id is None and f"{ref}+public+" in row.reply_to
    out = Outgoing.of(row)
    assert out.envelope_recipients() == ["bob@example.org", "carol@example.org"]
    msg = render(out)
    assert msg["To"] == "bob@example.org, carol@example.org"
    assert msg["Reply-To"] == row.reply_to


def test_html_alternative_is_escaped_text():
    html = html_from_text("<script>alert(1)</script> & more\n\nsee https://x.example/tasks/1?a=1&b=2\n")
    assert "<script>" not in html and "&lt;script&gt;" in html and "&amp; more" in html
    assert '<a href="https://x.example/tasks/1?a=1&amp;b=2">' in html


def test_rendered_message_has_both_parts_and_row_headers_cannot_override_core_ones(db, settings, task_with_reply):
    with db.read() as s:
        row = s.scalars(select(OutboundMessage)).first()
        out = Outgoing.of(row)
    msg = render(replace(out, headers={**out.headers, "Bcc": "x@example.com", "From": "evil@example.com"}))
    assert msg["Bcc"] is None and "evil" not in msg["From"]
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    assert msg["Subject"].startswith("[T1] ")


def test_headers_cannot_be_injected_and_unicode_subjects_survive():
    out = Outgoing(id=1, sender="noreply@reply.example.com", recipient="bob@example.org", reply_to="",
                   subject="Drucker brennt – schnell!\r\nBcc: evil@example.com", message_id="m1@reply.example.com",
                   headers={"X-Note": "a\nBcc: evil@example.com", "Bad Name": "x"}, body_text="Grüße\n")
    raw = render_bytes(out)
    assert b"\nBcc:" not in raw and b"Bad Name" not in raw
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    msg = render(out)
    assert msg["Subject"] == "Drucker brennt – schnell! Bcc: evil@example.com"
    assert msg.get_body(("plain",)).get_content().rstrip() == "Grüße"
    assert msg.get_body(("html",)) is None


def test_message_ids_stay_unique_across_threads_and_forks():
    """A per-process random prefix and a counter: no two ids alike, and a forked child starts a prefix of its own."""
    import os
    import threading

    from mailgate.shared.outbound.compose import new_message_id

    made: list[str] = []
    workers = [threading.Thread(target=lambda: made.extend(new_message_id("reply.example.com", "t1")
                                                           for _ in range(500))) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(made)) == len(made) == 4000
    parent_prefix = new_message_id("x")[len("mailgate."):][:16]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its first id, then leave without running any cleanup
        os.write(write, new_message_id("x").encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child.startswith("mailgate.") and child[len("mailgate."):][:16] != parent_prefix


def test_links_in_brackets_quotes_or_before_punctuation_get_the_right_href():
    html = html_from_text('See <https://example.com/a?x=1&y=2> and "http://example.org/p". '
                          "Also https://example.net/q, (https://example.net/r_(s)) and https://example.net/t.")
    assert '&lt;<a href="https://example.com/a?x=1&amp;y=2">https://example.com/a?x=1&amp;y=2</a>&gt;' in html
    assert '&quot;<a href="http://example.org/p">http://example.org/p</a>&quot;.' in html
    assert '<a href="https://example.net/q">https://example.net/q</a>,' in html
    assert '(<a href="https://example.net/r_(s)">https://example.net/r_(s)</a>)' in html
    assert '<a href="https://example.net/t">https://example.net/t</a>.</p>' in html
