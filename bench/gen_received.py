"""Fill an SQLite database with N received messages (default 1,000,000) for bench/console_speed.py.

    PYTHONSAFEPATH=1 .venv/bin/python bench/gen_received.py /tmp/mg-bench [--count 1000000]

The folder becomes a Mailgate instance (MAILGATE_INSTANCE): the schema is
made by the real migrations (so the indexes and the FTS5 search table are
the shipped ones), then rows are written with plain sqlite3 executemany in
id order, spread over 90 days, with a realistic mix of statuses, reasons,
sources, ~5,000 senders, unique Message-IDs and a ~700-byte raw message each.
The FTS index is rebuilt once at the end instead of row by row (same
result, faster load).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

WORDS = ("printer kettle invoice server backup login error report build deploy meeting coffee disk network "
         "license update broken urgent question request access password laptop screen budget review release "
         "migration database timeout crash outage feature bug docs ticket support billing customer").split()
DOMAINS = ("example.org", "example.net", "corp.example", "mail.example.com", "customer.example")
STATUS_MIX = ([("processed", None)] * 700 + [("ignored", "duplicate")] * 30 + [("ignored", "auto_generated")] * 60
              + [("ignored", "bounce")] * 20 + [("rejected", "unknown_recipient")] * 80
              + [("rejected", "invalid_hash")] * 20 + [("rejected", "unknown_sender")] * 40
              + [("rejected", "sender_mismatch")] * 10 + [("rejected", "empty")] * 10
              + [("failed", "internal_error")] * 10)
SOURCES = ["milter"] * 90 + ["pipe"] * 5 + ["test"] * 5
RAW = ("Received: from mx.{dom} (mx.{dom} [192.0.2.{n}])\r\n\tby reply.example.com (Postfix) with ESMTPS id {qid}\r\n"
       "From: {name} <{sender}>\r\nTo: {rcpt}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{mid}>\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n"
       "On Mon, someone wrote:\r\n> earlier text that the trimmer cuts\r\n> and more of it\r\n\r\n-- \r\n{name}\r\n")


def _users(n: int, rnd: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        local = f"{rnd.choice(WORDS)}.{rnd.choice(WORDS)}{i}"
        out.append((local.title().replace(".", " "), f"{local}@{rnd.choice(DOMAINS)}"))
    return out


def generate(instance: Path, count: int, seed: int = 7) -> None:
    from mailgate.shared import schema
    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database

    instance.mkdir(parents=True, exist_ok=True)
    db_path = instance / "mailgate.db"
    if db_path.exists():
        raise SystemExit(f"{db_path} exists; remove the folder first")
    settings = from_env({"MAILGATE_INSTANCE": str(instance), "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SENDER_AUTH": "off",
                         "MAILGATE_SECRET_KEY": "bench"})
    database = Database.from_settings(settings)
    schema.init(database)
    database.dispose()

    rnd = random.Random(seed)
    people = _users(5000, rnd)
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name='received_messages'"
                           ).fetchall()
    for name, _sql in triggers:
        con.execute(f"DROP TRIGGER {name}")
    now = datetime(2026, 11, 22, 4, 0, 0)
    start = now - timedelta(days=90)
    step = (now - start) / count
    cols = ("id, created_at, processed_at, source, queue_id, mail_from, rcpt_to, client_addr, client_name, helo, "
            "auth_results, message_id, dedupe_key, subject, from_addr, recipients_text, size, truncated, status, "
            "reason, reason_text, action, application, routed_to, object_ref, actor, task_id, comment_id, "
            "duplicate_of, commands, unknown_commands, robot, robot_reason, decisions, parse, error, attempts")
    marks = ", ".join("?" * len(cols.split(",")))
    t0 = time.time()
    batch_rows, batch_raw = [], []
    for i in range(1, count + 1):
        at = start + step * i
        name, sender = rnd.choice(people)
        status, reason = rnd.choice(STATUS_MIX)
        source = rnd.choice(SOURCES)
        subject = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(2, 7))).capitalize()
        if rnd.random() < 0.3:
            subject = "Re: " + subject
        reply = rnd.random() < 0.6
        task = rnd.randint(1, 5000)
        rcpt = (f"t{task}+{rnd.randint(1, 5000)}+{rnd.getrandbits(64):016x}@reply.example.com" if reply
                else "bugs@reply.example.com")
        mid = f"{i}.{rnd.getrandbits(40):010x}@{sender.split('@')[1]}"
        qid = f"{rnd.getrandbits(40):010X}"
        processed = status == "processed"
        body = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 40))) + "."
        raw = RAW.format(dom=sender.split("@")[1], n=i % 250, qid=qid, name=name, sender=sender, rcpt=rcpt,
                         subject=subject, date=at.strftime("%a, %d %b %Y %H:%M:%S +0000"), mid=mid,
                         body=body).encode()
        parse = {"text": body, "quoted": "earlier text that the trimmer cuts\nand more of it", "signature": name,
                 "commands": [], "attachments": [], "body_type": "text/plain", "warnings": [],
                 "cuts": [{"rule": "quote:header", "text": "On Mon, someone wrote:\n> earlier text"},
                          {"rule": "signature:dash_dash", "text": f"-- \n{name}"}]}
        ts = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        batch_rows.append((
            i, ts, ts if status != "received" else None, source, qid if source == "milter" else "", sender,
            json.dumps([rcpt]), f"192.0.2.{i % 250}", f"mx.{sender.split('@')[1]}", f"mx.{sender.split('@')[1]}", "",
            mid, f"mid:{mid}", subject, sender, rcpt, len(raw), 0, status, reason,
            "" if processed else f"Refused: {reason}", ("comment" if reply else "create") if processed else None,
            "tasks" if status in ("processed", "failed") or reason in ("unknown_sender", "sender_mismatch") else None,
            rcpt, f"T{task}" if processed else None, sender.split("@")[0] if processed else None,
            None, None, None, "[]", "[]", "auto_reply" if reason == "auto_generated" else None, "",
            json.dumps([f"Routed by the envelope recipients: {rcpt}.", "Sender is known."]),
            json.dumps(parse) if status in ("processed", "failed") else None,
            "Traceback (most recent call last):\n  ...\nRuntimeError: boom" if status == "failed" else "",
            1,
        ))
        batch_raw.append((i, raw))
        if len(batch_rows) == 20000 or i == count:
            con.executemany(f"INSERT INTO received_messages ({cols}) VALUES ({marks})", batch_rows)
            con.executemany("INSERT INTO received_raw (message_id, raw) VALUES (?, ?)", batch_raw)
            con.commit()
            batch_rows, batch_raw = [], []
            if i % 200000 == 0:
                print(f"  {i:,} rows, {time.time() - t0:.0f}s", flush=True)
    print("rebuilding the search index…", flush=True)
    con.execute("INSERT INTO received_search(received_search) VALUES ('rebuild')")
    for _name, sql in triggers:
        con.execute(sql)
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(f"{count:,} received messages in {db_path} ({db_path.stat().st_size / 1e9:.2f} GB) "
          f"in {time.time() - t0:.0f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", type=Path, help="folder for the instance (created)")
    ap.add_argument("--count", type=int, default=1_000_000)
    args = ap.parse_args()
    generate(args.instance, args.count)


if __name__ == "__main__":
    main()
