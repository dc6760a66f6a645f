"""Benchmark: messages/s through each way in beside the milter, against the pipe ingress in the same run.

    .venv/bin/python -P bench/ingress_throughput.py [-n 300] [--clients 8]

Every message is the same realistic ~4 KB reply (bench/receive_speed.py's)
to a signed reply address on SQLite: stored, deduplicated, routed,
authorised, parsed, commented and one notification queued, durable before
it counts. Timed until the last message is stored and processed:

  pipe      `mailgate receive` once per message, as Postfix's pipe(8) runs it
            (a process start each: the baseline every MTA-less setup is
            compared with);
  webhook   `mailgate ingress` (waitress, 8 threads); --clients concurrent
            SendGrid-shaped posts (multipart, raw MIME, basic auth), each
            answered 200 only once stored;
  imap      a real Dovecot on loopback with the messages APPENDed first;
            `mailgate imap --once` reads, stores and expunges them all
            (one connection, one message at a time).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "ingress"))
sys.path.insert(0, str(REPO / "tests" / "support"))  # leftovers, which tests/ingress/dovecot.py imports
from receive_speed import reply  # noqa: E402

import dovecot as dovecot_harness  # noqa: E402  (tests/ingress/dovecot.py)

from mailgate.shared import directory, durability, schema  # noqa: E402
from mailgate.shared.addresses import issue_reply_address  # noqa: E402
from mailgate.shared.config import from_env  # noqa: E402
from mailgate.shared.db import Database  # noqa: E402
from mailgate.shared.envelope import Envelope  # noqa: E402
from mailgate.shared.models import ReceivedMessage  # noqa: E402
from mailgate.shared.pipeline import receive  # noqa: E402

MAILGATE = str(Path(sys.executable).with_name("mailgate"))
SG_USER, SG_PASSWORD = "sguser", "bench secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh(tmp: Path, name: str, webhook: bool = False) -> tuple[dict, Database, str]:
    """A new instance with bob, T1 and bob's reply address; (environment, database, address)."""
    mailers = [{"key": "test", "type": "test"}]
    if webhook:
        mailers.append({"key": "sg", "type": "sendgrid", "options": {"api-key": "SG.bench", "inbound-user": SG_USER,
                                                                     "inbound-password": SG_PASSWORD}})
    env = {"MAILGATE_INSTANCE": str(tmp / name), "MAILGATE_DATABASE_URL": f"sqlite:///{tmp / name / 'm.db'}",
           "MAILGATE_REPLY_DOMAIN": "reply.example.com", "MAILGATE_SECRET_KEY": "bench",
           "MAILGATE_MAILERS": json.dumps(mailers), "MAILGATE_CONFIG": ""}
    settings = from_env(env)
    db = Database.from_settings(settings)
    schema.init(db)
    with db.transaction() as s:
        directory.add_user(s, "alice", ["alice@example.org"], "Alice", settings=settings, actor="bench")
        bob = directory.add_user(s, "bob", ["bob@example.org"], "Bob", settings=settings, actor="bench").id
        directory.add_create_address(s, settings, "tasks", "bugs@reply.example.com", actor="bench")
    first = ("From: alice@example.org\r\nTo: bugs@reply.example.com\r\nSubject: Printer on fire\r\n"
             f"Message-ID: <{uuid.uuid4()}@example.org>\r\n\r\nIt burns.\r\n\r\n!assign bob\r\n").encode()
    out = receive(db, settings, Envelope(source="test", sender="alice@example.org",
                                         recipients=["bugs@reply.example.com"]), first)
    with durability.transaction(db) as conn:
        address = issue_reply_address(conn, settings, out.object, bob)[0]
    return {**os.environ, **env, "PYTHONSAFEPATH": "1"}, db, address


def processed(db: Database) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(ReceivedMessage)
                        .where(ReceivedMessage.status == "processed", ReceivedMessage.source != "test"))


def run_pipe(env: dict, addr: str, messages: list[bytes]) -> float:
    t0 = time.perf_counter()
    for raw in messages:
        subprocess.run([MAILGATE, "receive", "--sender", "bob@example.org", "--recipient", addr], input=raw,
                       env=env, check=True, capture_output=True)
    return len(messages) / (time.perf_counter() - t0)


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8", "surrogateescape"), boundary


def run_webhook(env: dict, addr: str, messages: list[bytes], clients: int) -> float:
    port = free_port()
    server = subprocess.Popen([MAILGATE, "ingress", "--port", str(port), "--log-level", "WARNING"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        auth = "Basic " + base64.b64encode(f"{SG_USER}:{SG_PASSWORD}".encode()).decode()
        bodies = [_multipart({"email": raw.decode(), "envelope": json.dumps({"to": [addr], "from": "bob@example.org"})})
                  for raw in messages]
        errors: list[int] = []

        def client(share):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for body, boundary in share:
                conn.request("POST", "/mail/sendgrid/", body, {"Authorization": auth,
                             "Content-Type": f"multipart/form-data; boundary={boundary}"})
                answer = conn.getresponse()
                answer.read()
                if answer.status != 200:
                    errors.append(answer.status)
            conn.close()

        threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rate = len(messages) / (time.perf_counter() - t0)
        if errors:
            sys.exit(f"webhook answered {errors[:5]}")
        return rate
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_imap(env: dict, messages: list[bytes]) -> float:
    server = dovecot_harness.Dovecot().prepare().start()
    try:
        with server.client() as c:
            for raw in messages:
                c.append("INBOX", raw)
        imap_env = {**env, **server.env()}
        t0 = time.perf_counter()
        subprocess.run([MAILGATE, "imap", "--once", "--log-level", "WARNING"], env=imap_env, check=True,
                       capture_output=True)
        rate = len(messages) / (time.perf_counter() - t0)
        if server.count() != 0:
            sys.exit("imap left messages in the mailbox")
        return rate
    finally:
        server.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300, help="messages per way in (default 300)")
    ap.add_argument("--clients", type=int, default=8, help="concurrent webhook posts (default 8)")
    ap.add_argument("--only", default="pipe,webhook,imap", help="comma-separated ways in (default: all three)")
    args = ap.parse_args()
    ways = [w for w in ("pipe", "webhook", "imap") if w in args.only.split(",")]
    print(f"{platform.node()}: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at start, n={args.n}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results = {}
        for name in ways:
            env, db, addr = fresh(tmp, name, webhook=name == "webhook")
            messages = [reply(i, addr) for i in range(args.n)]
            if name == "pipe":
                rate = run_pipe(env, addr, messages)
            elif name == "webhook":
                rate = run_webhook(env, addr, messages, args.clients)
            else:
                rate = run_imap(env, messages)
            done = processed(db)
            db.dispose()
            if done != args.n:
                sys.exit(f"{name}: {done} of {args.n} processed")
            results[name] = rate
            versus = f"  (x{rate / results['pipe']:.2f} the pipe)" if "pipe" in results else ""
            print(f"{name:8s} {rate:8.1f} msg/s{versus}", flush=True)
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    if not shutil.which("dovecot"):
        sys.exit("needs Dovecot (dovecot-imapd)")
    main()
