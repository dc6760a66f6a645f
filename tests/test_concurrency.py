"""Races between processes or hosts, with real connections (run on SQLite and on PostgreSQL).

Threads each use their own Database (own engine and pool), as separate
milter processes on separate hosts would.
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from mailgate.shared import keys
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.models import Comment, MailKey, ReceivedMessage, Task
from mailgate.shared.pipeline import receive

N = 6


def race(settings, work) -> list:
    """Run work(db, i) in N threads released together; return their results."""
    barrier = threading.Barrier(N)
    results: list = [None] * N
    errors: list = []

    def run(i: int) -> None:
        db = Database.from_settings(settings)
        try:
            barrier.wait(timeout=30)
            results[i] = work(db, i)
        except BaseException as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def test_same_message_on_many_hosts_acts_once(db, settings, seed, mail, task_with_reply):
    _, addr = task_with_reply
    raw = mail(sender="bob@example.org", to=addr, body="Sent to every MX at once.", msgid="<race@example.org>")
    outcomes = race(settings, lambda d, i: receive(d, settings, Envelope(source="milter", recipients=[addr]), raw))
    statuses = sorted((o.status, o.reason or "") for o in outcomes)
    assert statuses == [("ignored", "duplicate")] * (N - 1) + [("processed", "")]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Comment)) == 1
        assert s.scalar(select(func.count()).select_from(ReceivedMessage).where(
            ReceivedMessage.dedupe_key.like("mid:race@example.org|to:%"))) == N  # Message-ID and route


def test_concurrent_creates_get_distinct_task_numbers(db, settings, seed, mail):
    def create(d, i):
        return receive(d, settings, Envelope(recipients=[seed.create_address]),
                       mail(subject=f"Task {i}", msgid=f"<create-{i}@example.org>"))

    outcomes = race(settings, create)
    assert all(o.status == "processed" for o in outcomes)
    refs = sorted(o.object for o in outcomes)
    assert len(set(refs)) == N
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == N


def test_concurrent_rotations_leave_exactly_one_current_key(db, settings):
    def rotate(d, i):
        with d.transaction() as s:
            return keys.rotate_key(s).id

    new_ids = race(settings, rotate)
    with db.read() as s:
        current = s.scalars(select(MailKey.id).where(MailKey.retired_at.is_(None))).all()
        assert len(current) == 1
        assert current[0] == max(new_ids) == keys.current_key(s).id
