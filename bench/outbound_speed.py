"""Benchmark: queueing notifications, and the worker delivering them over SMTP.

    .venv/bin/python -P bench/outbound_speed.py [-n 1000] [--repeat 3]

1. Render + queue: one "commented" event on a task with N subscribers,
   through notify.queue_task_event inside one transaction (the pipeline's act
   step does exactly this), commit included. Best of --repeat runs.
2. Deliver: `Worker.run_once()` (what `mailgate worker --once` runs) sends the
   N queued rows to a local SMTP sink — aiosmtpd's Sink handler in its own
   process, so the sink does not share our GIL. Claims, rendering, SMTP and
   recording are all inside the timing.
3. Baseline, same run, same sink: raw smtplib sending the same N messages,
   pre-rendered, over one connection (the floor of what any Python sender can
   do here). The ratio says what claiming, rendering and bookkeeping cost.
4. The same N rows queued again and delivered through the `postmark` mailer
   to the local Postmark stand-in (tests/support/api_standins.py, in its own
   process; it checks every request as Postmark documents it), beside a raw
   httpx baseline posting the same pre-built JSON over one connection.
"""

from __future__ import annotations

import argparse
import os
import platform
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select, update

from mailgate.shared import durability, schema, tracker
from mailgate.shared.rows import save_task, task_by_id, user_by_id
from mailgate.shared.config import MailerConfig, from_env
from mailgate.shared.db import Database
from mailgate.shared.models import AppUser, OutboundMessage, Task, TaskSubscriber, UserEmail
from mailgate.shared.notify import queue_task_event
from mailgate.shared.outbound.render import Outgoing, render_bytes
from mailgate.shared.outbound.worker import Worker
from dataclasses import replace

COMMENT = ("I had a look at this and the fix in build 4711 works for me. The printer on the third floor\n"
           "still jams when duplex printing is on, though; could you check the tray settings?\n") * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("aiosmtpd")
    proc = subprocess.Popen([str(exe), "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _listening(proc, port, "the SMTP sink")


def _listening(proc: subprocess.Popen, port: int, what: str) -> subprocess.Popen:
    """`proc` once it accepts connections on `port` (killed, and the benchmark ended, if it never does)."""
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not start")


STANDINS = Path(__file__).resolve().parent.parent / "tests" / "support" / "api_standins.py"


def start_postmark(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-P", str(STANDINS), "postmark", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return _listening(proc, port, "the Postmark stand-in")


def requeue(db: Database, n: int) -> None:
    """The last n rows due again, as if never sent (the API run delivers the same messages)."""
    with db.transaction() as s:
        last = s.scalar(select(OutboundMessage.id).order_by(OutboundMessage.id.desc()).limit(1))
        s.execute(update(OutboundMessage).where(OutboundMessage.id > last - n)
                  .values(status="queued", attempts=0, next_attempt_at=None, sent_at=None, mailer=None))


def postmark_run(db: Database, settings, queued: list, n: int, batch: int) -> tuple[float, float, int]:
    """(worker seconds, raw httpx seconds, rows sent) through the postmark type against the stand-in."""
    import httpx

    from mailgate.shared.outbound.api_mailers import PostmarkMailer

    port = free_port()
    server = start_postmark(port)
    try:
        url = f"http://127.0.0.1:{port}"
        headers = {"Accept": "application/json", "X-Postmark-Server-Token": "pm-server-token"}
        shaper = PostmarkMailer("raw", {"access-token": "pm-server-token", "endpoint": url})
        payloads = [shaper.payload(render_bytes(o)) for o in queued]
        t0 = time.perf_counter()
        with httpx.Client(base_url=url, trust_env=False) as client:
            for p in payloads:
                assert client.post("/email", json=p, headers=headers).status_code == 200
        raw_time = time.perf_counter() - t0

        requeue(db, n)
        mailer = MailerConfig(key="postmark", type="postmark",
                              options={"access-token": "pm-server-token", "endpoint": url})
        worker = Worker(db, replace(settings, mailers=(mailer,)), batch_size=batch)
        t0 = time.perf_counter()
        stats = worker.run_once()
        work_time = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(5)
    return work_time, raw_time, stats.sent


def seed(db: Database, n: int) -> tuple[int, int]:
    """A task by `actor` with n other subscribers; returns (task id, actor id)."""
    with db.transaction() as s:
        app = tracker.builtin_app(s)
        actor = AppUser(username="actor", name="Actor")
        s.add(actor)
        s.flush()
        s.add(UserEmail(user_id=actor.id, address="actor@example.org"))
        s.execute(insert(AppUser), [{"username": f"u{i}", "name": f"User {i}"} for i in range(n)])
        ids = list(s.scalars(select(AppUser.id).where(AppUser.username != "actor").order_by(AppUser.id)))
        s.execute(insert(UserEmail), [{"user_id": uid, "address": f"u{i}@example.org"} for i, uid in enumerate(ids)])
        task = Task(application_id=app.id, title="Printer on fire", description="It burns.", author_id=actor.id)
        s.add(task)
        s.flush()
        s.execute(insert(TaskSubscriber), [{"task_id": task.id, "user_id": uid} for uid in [actor.id, *ids]])
        return task.id, actor.id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=100)
    args = ap.parse_args()
    n = args.n

    tmp = Path(tempfile.mkdtemp(prefix="mailgate-bench-out-"))
    settings = from_env({"MAILGATE_INSTANCE": str(tmp), "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SENDER_AUTH": "off",
                         "MAILGATE_SECRET_KEY": "bench"})
    db = Database.from_settings(settings)
    schema.init(db)
    task_id, actor_id = seed(db, n)

    # 1. render + queue ---------------------------------------------------------------
    queue_times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with durability.transaction(db) as conn:
            task = task_by_id(conn, task_id)
            rows = queue_task_event(conn, settings, task=task, actor=user_by_id(conn, actor_id), events=["commented"],
                                    new_text=COMMENT)
            save_task(conn, task)  # the first event made the task's thread root
            assert len(rows) == n
        queue_times.append(time.perf_counter() - t0)
    best_queue = min(queue_times)
    # Keep only the last event's rows queued for the delivery run.
    with db.transaction() as s:
        last = s.scalar(select(OutboundMessage.id).order_by(OutboundMessage.id.desc()).limit(1))
        s.execute(update(OutboundMessage).where(OutboundMessage.id <= last - n).values(status="void"))
        queued = [Outgoing.of(r) for r in s.scalars(select(OutboundMessage).where(OutboundMessage.status == "queued"))]
    assert len(queued) == n

    port = free_port()
    sink = start_sink(port)
    try:
        # 3. baseline first (it leaves the queue untouched) ------------------------------
        t0 = time.perf_counter()
        pre = [(o.sender, o.envelope_recipients(), render_bytes(o)) for o in queued]
        render_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as conn:
            for sender, rcpts, data in pre:
                conn.sendmail(sender, rcpts, data)
        base_time = time.perf_counter() - t0

        # 2. the worker --------------------------------------------------------------
        mailer = MailerConfig(key="sink", type="smtp", options={"host": "127.0.0.1", "port": port})
        worker = Worker(db, replace(settings, mailers=(mailer,)), batch_size=args.batch)
        t0 = time.perf_counter()
        stats = worker.run_once()
        work_time = time.perf_counter() - t0
        connections = worker.mailers[0].connections
    finally:
        sink.terminate()
        sink.wait(5)
    assert stats.sent == n, stats.as_dict()
    pm_time, pm_raw_time, pm_sent = postmark_run(db, settings, queued, n, args.batch)
    assert pm_sent == n, pm_sent

    size = sum(len(p[2]) for p in pre) / n
    print(f"# Outbound speed, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"SQLite {__import__('sqlite3').sqlite_version} (WAL, synchronous=FULL)")
    print(f"render+queue {n} notifications for one event: best {best_queue * 1000:.0f} ms of {args.repeat} "
          f"({n / best_queue:,.0f} notifications/s; runs: {', '.join(f'{t * 1000:.0f}' for t in queue_times)} ms)")
    print(f"worker --once, {n} messages (~{size / 1024:.1f} KB each) to a local SMTP sink, batch {args.batch}: "
          f"{work_time:.2f} s = {n / work_time:,.0f} msgs/s over {connections} connection(s)")
    print(f"baseline raw smtplib, same {n} pre-rendered messages, one connection: {base_time:.2f} s = "
          f"{n / base_time:,.0f} msgs/s (rendering them separately took {render_time:.2f} s = "
          f"{render_time / n * 1000:.2f} ms each)")
    print(f"ratio worker/baseline: {base_time / work_time:.2f} (1.00 = as fast as raw smtplib)")
    print(f"worker --once, the same {n} messages through the postmark type to the local Postmark stand-in: "
          f"{pm_time:.2f} s = {n / pm_time:,.0f} notifications/s")
    print(f"baseline raw httpx, the same {n} JSON payloads pre-built, one connection: {pm_raw_time:.2f} s = "
          f"{n / pm_raw_time:,.0f}/s; ratio worker/baseline {pm_raw_time / pm_time:.2f}")


if __name__ == "__main__":
    main()
