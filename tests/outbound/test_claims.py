"""Several workers on one queue: every row goes out exactly once (real database, threads and processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from mailgate.shared.config import MailerConfig
from mailgate.shared.db import Database, utcnow
from mailgate.shared.models import OutboundMessage
from mailgate.shared.outbound import queue
from mailgate.shared.outbound.mailers import TestMailer
from mailgate.shared.outbound.worker import Worker

from .conftest import with_mailers


def _queue_rows(db, settings, n: int) -> None:
    with db.transaction() as s:
        s.add_all([OutboundMessage(status="queued", recipient=f"u{i}@example.org", sender=settings.from_address,
                                   subject=f"m{i}", body_text="x", message_id=f"m{i}@reply.example.com")
                   for i in range(n)])


def test_two_worker_threads_never_send_the_same_row(db, settings, tmp_path):
    n = 400
    _queue_rows(db, settings, n)
    log = tmp_path / "sent.log"
    settings = with_mailers(settings, MailerConfig("t", "test", None, {"log": str(log), "delay": 0.003}))
    workers = [Worker(Database(settings.database_url), settings, batch_size=7) for _ in range(3)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [line.split()[-1] for line in log.read_text().splitlines()]
    assert len(ids) == n and len(set(ids)) == n
    assert sum(w.stats.sent for w in workers) == n
    assert all(w.stats.sent > 0 for w in workers), [w.stats.sent for w in workers]  # they really raced
    with db.read() as s:
        assert s.scalar(select(func.count()).where(OutboundMessage.status == "sent")) == n
    for w in workers:
        w.db.dispose()


def test_two_worker_processes_never_send_the_same_row(db, settings, env, tmp_path):
    n = 600
    _queue_rows(db, settings, n)
    log = tmp_path / "sent.log"
    penv = {**os.environ, **env,
            "MAILGATE_MAILERS": json.dumps([{"key": "t", "type": "test", "options": {"log": str(log), "delay": 0.005}}])}
    mailgate = Path(sys.executable).with_name("mailgate")
    procs = [subprocess.Popen([str(mailgate), "worker", "--once", "--batch", "5", "--json"], env=penv,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    lines = log.read_text().splitlines()
    ids = [line.split()[-1] for line in lines]
    assert len(ids) == n and len(set(ids)) == n
    assert len({line.split()[0] for line in lines}) == 2  # both processes sent some
    with db.read() as s:
        assert s.scalar(select(func.count()).where(OutboundMessage.status == "sent")) == n


def test_a_crashed_workers_rows_come_back_after_the_lease(db, settings):
    _queue_rows(db, settings, 3)
    claimed = queue.claim(db, 10, lease=timedelta(seconds=60))
    assert len(claimed) == 3
    assert queue.claim(db, 10) == []  # leased: nobody else sees them
    # …the worker dies. After the lease, another one gets them.
    later = utcnow() + timedelta(seconds=61)
    again = queue.claim(db, 10, now=later)
    assert [o.id for o in again] == [o.id for o in claimed]
    # The dead worker's late result must not overwrite the new owner's.
    late = [queue.Result(id=o.id, lease=o.lease, outcome="sent", mailer="ghost") for o in claimed]
    assert queue.record(db, late) == 0
    fresh = [queue.Result(id=o.id, lease=o.lease, outcome="sent", mailer="t") for o in again]
    assert queue.record(db, fresh) == 3
    with db.read() as s:
        assert set(s.scalars(select(OutboundMessage.mailer))) == {"t"}


def test_backoff_doubles_and_gives_up(db, settings):
    assert [queue.backoff(a).total_seconds() / 60 for a in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert queue.backoff(50) == queue.BACKOFF_CAP
    _queue_rows(db, settings, 1)
    (o,) = queue.claim(db, 1)
    queue.record(db, [queue.Result(id=o.id, lease=o.lease, outcome="retry", error="451 later",
                                   attempts=queue.MAX_ATTEMPTS - 1)])
    with db.read() as s:
        row = s.get(OutboundMessage, o.id)
        assert row.status == "failed" and row.status_reason.startswith("gave up after")
        assert row.last_error == "451 later"
