"""Benchmark: receive() in one process on SQLite, with a baseline from the same run.

    .venv/bin/python -P bench/receive_speed.py [-n 2000] [--threads 8]

Each message is a realistic ~4 KB reply (new text, a signature, a quoted
history, an Outlook-style header block) to a signed reply address: the
comment is written and one notification is queued. Two ways of calling the
same pipeline, both durable (every message's commits fsynced before the
call returns):

  sequential   one caller, receive() per message: one fsync per message;
  concurrent   --threads callers at once (as the milter's SMTP sessions),
               through batching.Batcher: their messages are stored and
               processed together by pipeline.receive_many(), one fsync per
               batch -- the same function the milter's writer process runs.

The baseline is the cheapest durable store imaginable on the same disk: one
INSERT of the same bytes and a commit with synchronous=FULL per message.
Prints messages/s, the ratio to the baseline, CPU per message, and the
sequential run's cost by stage (store / route+authorise / parse / act+commit
/ fsync).

--desk: the same replies from an external participant of a service-desk task
(docs/service-desk.md) to their signed address, without the `!priority` line
(commands are the team's): the comment, one notification to the team's
subscriber and one to a second participant (copied on the opening mail).
Then -n new mails from strangers to the desk address (each a task, its
participant and the acknowledgement), sequential, and the same mails from a
user to an ordinary create address. Every run prints the
`service_desk` step's own time per message (it returns at once on a reply).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from mailgate.shared import directory, durability, schema
from mailgate.shared.addresses import issue_reply_address
from mailgate.shared.batching import Batcher
from mailgate.shared.config import from_env
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.pipeline import Timings, driver, receive

QUOTE = "\n".join(f"> line {i} of the earlier discussion, quoted back by the mail client as usual." for i in range(25))


def reply(i: int, to: str, sender: str = "Bob Example <bob@example.org>", command: str = "!priority high\n\n") -> bytes:
    body = (
        f"Thanks, I had a look at this and the fix in build {i} works for me.\n"
        "The printer on the third floor still jams when duplex printing is on, though;\n"
        "could you check the tray settings before closing this?\n\n"
        f"{command}"
        "--\nBob Example\nOperations\n\n"
        f"On Mon, 2 Nov 2026 at 10:{i % 60:02d}, Alice Example <alice@example.org> wrote:\n"
        f"{QUOTE}\n\n"
        "From: Carol <carol@example.org>\nSent: Monday, 2 November 2026 09:00\nTo: Alice\nSubject: printer\n\n"
        + "Older text in the forwarded history. " * 30 + "\n"
    )
    headers = (
        f"From: {sender}\r\nTo: {to}\r\nSubject: Re: [T1] Printer on fire\r\n"
        f"Message-ID: <bench-{i}-{time.time_ns()}@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Received: from mx.example.org (mx.example.org [192.0.2.1]) by reply.example.com\r\n\r\n"
    )
    return (headers + body.replace("\n", "\r\n")).encode()


def baseline(path: Path, messages: list[bytes]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, raw BLOB)")
    t0 = time.perf_counter()
    for raw in messages:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO m (raw) VALUES (?)", (raw,))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return len(messages) / elapsed


def concurrent(db: Database, settings, addr: str, messages: list[bytes], threads: int,
               sender: str = "bob@example.org") -> tuple[float, float, int]:
    """`threads` callers at once through one Batcher; (messages/s, CPU ms per message, batches)."""
    batcher = Batcher(db, settings)
    shares = [messages[i::threads] for i in range(threads)]
    gate = threading.Barrier(threads + 1)
    failures: list[str] = []

    def caller(share: list[bytes]) -> None:
        gate.wait()
        for raw in share:
            out = batcher.receive(Envelope(source="pipe", sender=sender, recipients=[addr]), raw)
            if out.status != "processed":
                failures.append(str(out))

    workers = [threading.Thread(target=caller, args=(share,)) for share in shares]
    for w in workers:
        w.start()
    c0 = time.process_time()
    gate.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    cpu_ms = (time.process_time() - c0) / len(messages) * 1000
    batcher.stop()
    if failures:
        sys.exit(f"unexpected outcome {failures[0]}")
    return len(messages) / elapsed, cpu_ms, batcher.batches


class StepClock:
    """Wraps one step of the driver's STEPS to record its own seconds per message."""

    def __init__(self, name: str) -> None:
        self.seconds: list[float] = []
        self.name = name
        driver.STEPS = tuple(replace(s, run=self._timed(s.run)) if s.name == name else s for s in driver.STEPS)

    def _timed(self, run):
        def timed(w) -> None:
            t0 = time.perf_counter()
            try:
                run(w)
            finally:
                self.seconds.append(time.perf_counter() - t0)
        return timed

    def take(self) -> list[float]:
        taken, self.seconds = self.seconds, []
        return taken


def stranger(i: int) -> bytes:
    """A new mail to the service desk from someone without an account (a task, a participant, an ack)."""
    return (f"From: Customer {i} <customer{i}@customer.example>\r\nTo: support@reply.example.com\r\n"
            f"Subject: Printer {i} is on fire\r\nMessage-ID: <bench-new-{i}-{time.time_ns()}@customer.example>\r\n"
            "Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello,\r\n\r\nthe printer on the third floor is on fire again. Could someone look at it?\r\n\r\n"
            f"--\r\nCustomer {i}\r\n").encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="messages per run (default 2000)")
    ap.add_argument("--threads", type=int, default=8, help="callers of the concurrent run (default 8)")
    ap.add_argument("--desk", action="store_true", help="replies from a service desk's external participant")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {"MAILGATE_INSTANCE": tmp, "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SENDER_AUTH": "off",
               "MAILGATE_SECRET_KEY": "bench"}
        settings = from_env(env)
        db = Database.from_settings(settings)
        schema.init(db)
        with db.transaction() as s:
            directory.add_user(s, "alice", ["alice@example.org"], settings=settings, actor="bench")
            directory.add_user(s, "bob", ["bob@example.org"], settings=settings, actor="bench")
            directory.add_create_address(s, settings, "tasks", "bugs@reply.example.com", actor="bench")
        if args.desk:
            addr, sender = desk_task(db, settings), "jane@customer.example"
            messages = [reply(i, addr, f"Jane Doe <{sender}>", "") for i in range(args.n)]
            concurrent_messages = [reply(args.n + i, addr, f"Jane Doe <{sender}>", "") for i in range(args.n)]
        else:
            create = (b"From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: Printer on fire\r\n"
                      b"Message-ID: <bench-create@example.org>\r\n\r\nIt burns.\r\n")
            assert receive(db, settings, Envelope(recipients=["bugs@reply.example.com"]), create).object == "T1"
            with db.read() as s:
                bob_id = directory.get_user(s, "bob").id
            with durability.transaction(db) as conn:
                addr = issue_reply_address(conn, settings, "T1", bob_id)[0]
            sender = "bob@example.org"
            messages = [reply(i, addr) for i in range(args.n)]
            concurrent_messages = [reply(args.n + i, addr) for i in range(args.n)]
        size = statistics.mean(len(m) for m in messages)

        # warm-up (imports, caches) outside the measurement
        for raw in messages[:20]:
            receive(db, settings, Envelope(source="pipe", sender=sender, recipients=[addr]),
                    raw.replace(b"bench-", b"warm-"))

        clock = StepClock("service_desk")
        clock.take()
        per: list[Timings] = []
        c0 = time.process_time()
        t0 = time.perf_counter()
        for raw in messages:
            t = Timings()
            out = receive(db, settings, Envelope(source="pipe", sender=sender, recipients=[addr]),
                          raw, timings=t)
            if out.status != "processed":
                sys.exit(f"unexpected outcome {out}")
            per.append(t)
        elapsed = time.perf_counter() - t0
        cpu_ms = (time.process_time() - c0) / args.n * 1000
        rate = args.n / elapsed
        step_on_replies = clock.take()
        opened: list[Timings] = []
        if args.desk:
            o0 = time.perf_counter()
            for i in range(args.n):
                t = Timings()
                out = receive(db, settings, Envelope(source="pipe", sender=f"customer{i}@customer.example",
                                                     recipients=["support@reply.example.com"]), stranger(i), timings=t)
                if (out.status, out.action) != ("processed", "create"):
                    sys.exit(f"unexpected outcome {out}")
                opened.append(t)
            open_rate = args.n / (time.perf_counter() - o0)
            step_on_new = clock.take()
            plain: list[Timings] = []
            o0 = time.perf_counter()
            for i in range(args.n):  # the same mail from a user to an ordinary create address, for comparison
                t = Timings()
                raw = stranger(i).replace(f"customer{i}@customer.example".encode(), b"alice@example.org") \
                    .replace(b"support@reply.example.com", b"bugs@reply.example.com").replace(b"bench-new", b"bench-user")
                out = receive(db, settings, Envelope(source="pipe", sender="alice@example.org",
                                                     recipients=["bugs@reply.example.com"]), raw, timings=t)
                if (out.status, out.action) != ("processed", "create"):
                    sys.exit(f"unexpected outcome {out}")
                plain.append(t)
            plain_rate = args.n / (time.perf_counter() - o0)
            step_on_plain = clock.take()
        c_rate, c_cpu_ms, batches = concurrent(db, settings, addr, concurrent_messages, args.threads, sender)
        base = baseline(Path(tmp) / "baseline.db", messages)
        db.dispose()

    def ms(values: list[float]) -> str:
        values = sorted(values)
        return (f"mean {statistics.mean(values) * 1000:6.3f} ms  p50 {values[len(values) // 2] * 1000:6.3f}  "
                f"p99 {values[int(len(values) * 0.99)] * 1000:6.3f}")

    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"SQLite {sqlite3.sqlite_version}")
    what = ("a service desk participant's replies" if args.desk else "replies")
    mail = "comment + 1 team notification + 1 participant notice" if args.desk else "comment + 1 notification"
    print(f"messages: {args.n} {what} of {size:,.0f} bytes on average ({mail} each)")
    print(f"sequential receive():     {rate:8.1f} msg/s   CPU {cpu_ms:.2f} ms per message "
          f"(the rest of the wall time is waiting for the disk)")
    print(f"concurrent, {args.threads} callers:  {c_rate:8.1f} msg/s   CPU {c_cpu_ms:.2f} ms per message, "
          f"{args.n / max(batches, 1):.1f} messages per batch (one store + one processing transaction + one fsync)")
    print(f"baseline (INSERT+commit): {base:8.1f} msg/s   ratio sequential/baseline = {rate / base:.2f}, "
          f"concurrent/baseline = {c_rate / base:.2f}")
    print("sequential, per message:")
    print(f"  store (commit #1)       {ms([t.store for t in per])}")
    print(f"  dedupe+guard+route+auth {ms([t.authorise for t in per])}")
    print(f"  parse                   {ms([t.parse for t in per])}")
    print(f"  act + commit #2         {ms([t.act for t in per])}")
    print(f"  durable (WAL fsync)     {ms([t.durable for t in per])}")
    print(f"  of which service_desk   {ms(step_on_replies)}")
    if args.desk:
        print(f"new mail from strangers to the desk, sequential: {open_rate:8.1f} msg/s "
              "(a task, its participant, the acknowledgement, the default author's notification)")
        print(f"  act + commit #2         {ms([t.act for t in opened])}")
        print(f"  of which service_desk   {ms(step_on_new)}")
        print(f"the same mail from a user to an ordinary create address: {plain_rate:8.1f} msg/s")
        print(f"  act + commit #2         {ms([t.act for t in plain])}")
        print(f"  of which service_desk   {ms(step_on_plain)}")


def desk_task(db: Database, settings) -> str:
    """T1 opened at a service desk by jane (joe copied), alice its default author: jane's signed reply address."""
    from mailgate.shared.addresses import participant_reply_address
    from mailgate.shared.keys import signing_key
    from mailgate.shared.servicedesk import participants

    with db.transaction() as s:
        directory.add_create_address(s, settings, "tasks", "support@reply.example.com", "alice", actor="bench",
                                     service_desk=True, cc_participants=True)
    create = (b"From: Jane Doe <jane@customer.example>\r\nTo: support@reply.example.com\r\n"
              b"Cc: Joe <joe@customer.example>\r\nSubject: Printer on fire\r\n"
              b"Message-ID: <bench-create@customer.example>\r\n\r\nIt burns.\r\n")
    out = receive(db, settings, Envelope(sender="jane@customer.example", recipients=["support@reply.example.com"]),
                  create)
    assert out.object == "T1", out
    with durability.transaction(db) as conn:
        jane = next(p for p in participants.of_task(conn, 1) if p.via == "from")
        return participant_reply_address(settings, signing_key(conn), "T1", jane.id, jane.address)


if __name__ == "__main__":
    main()
