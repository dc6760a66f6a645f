"""A fleet of MX hosts on one machine: one PostgreSQL, N private Postfix instances, N `mailgate milter`s.

Used by the tests in this folder and by bench/soak.py (which loads this file
by path). Everything is real: PostgreSQL from Debian (`initdb`/`pg_ctl`,
unix socket only, own data directory), Postfix instances from
`tests/support/privatepostfix.py` (each on its own loopback port), and one
`mailgate milter` child process per Postfix on that instance's unix socket.

`SmtpSender` is the client side: it speaks SMTP like an MTA would, keeping a
connection open between messages, and `deliver()` retries a message refused
with 4xx (or cut off by a dropped connection) with a bounded exponential
backoff, switching MX host on each retry as a sending MTA does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import leftovers
from privatepostfix import MilterProcess, PrivatePostfix

DOMAIN = "reply.example.com"
QUOTE = "\n".join(f"> line {i} of the earlier discussion, quoted back by the mail client." for i in range(8))


# --- PostgreSQL -----------------------------------------------------------------------------

def pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
                   if p.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return found[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgCluster:
    """A throwaway cluster (the Python twin of scripts/pg.sh): unix socket in `root`, no TCP."""

    root: Path
    port: int = field(default_factory=free_port)
    dbname: str = "mailgate_fleet"
    _running: int | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@/{self.dbname}?host={self.root}&port={self.port}"

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        out = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({out.returncode}): {out.stderr.strip()}"
                               f"\n{self.log_tail()}")
        return out

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> "PgCluster":
        bindir = pg_bindir()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        if os.getuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        if not (self.data / "PG_VERSION").exists():
            self._run(str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
            first = True
        else:
            first = False
        if self._running is None:
            self._running = leftovers.started(f"PostgreSQL in {self.data}", lambda: self.stop("immediate"),
                                              leftovers.postgres(self.data, self.root))
        try:
            self._run(str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
                      "-o", f"-k {self.root} -p {self.port} -c listen_addresses='' -c max_connections=200", "start")
            if first:
                self._run(str(bindir / "createdb"), "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                          self.dbname)
        except BaseException:
            self.stop("immediate")
            raise
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: sessions are cut, open transactions roll back)."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(pg_bindir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                      check=False)
        if not (self.data / "postmaster.pid").exists():
            leftovers.stopped(self._running)
            self._running = None

    def running(self) -> bool:
        out = self._run(str(pg_bindir() / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return out.returncode == 0

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --- hosts ----------------------------------------------------------------------------------

@dataclass
class Host:
    """One MX host: a private Postfix and its `mailgate milter`."""

    name: str
    postfix: PrivatePostfix
    milter: MilterProcess

    @property
    def port(self) -> int:
        return self.postfix.port

    @property
    def milter_pid(self) -> int | None:
        p = self.milter.proc
        return p.pid if p is not None and p.poll() is None else None

    def kill_milter(self) -> None:
        """SIGKILL to the milter and its writer process: no drain, no cleanup; whatever it was doing is cut off."""
        p = self.milter.proc
        if p is not None and p.poll() is None:
            self.milter.kill()

    def start_milter(self, timeout: float = 60.0) -> None:
        """Start (again); retried while start-up refuses (e.g. the database is still down)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.milter.start(timeout=30)
                return
            except RuntimeError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)


class Fleet:
    """PostgreSQL + `hosts` MX hosts, seeded with users, tasks and reply addresses.

    `targets` lists (sender address, sender name, reply address, task ref):
    a reply from that sender to that address is a valid comment.
    """

    def __init__(self, work: Path | None = None, hosts: int = 2, users: int = 6, tasks: int = 10,
                 keep: bool = False, database: str = "postgresql"):
        self.work = Path(work or tempfile.mkdtemp(prefix="mailgate-fleet-", dir="/tmp"))
        self.work.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)
        self.n_hosts, self.n_users, self.n_tasks, self.keep = hosts, users, tasks, keep
        self.pg = PgCluster(self.work / "pg")
        # "sqlite": one SQLite file every host's milter shares (one machine), for faults on its files
        self.database = database
        self.hosts: list[Host] = []
        self.targets: list[tuple[str, str, str, str]] = []
        self.db = None
        self.settings = None

    def env(self, host: str = "host0") -> dict[str, str]:
        return {
            "MAILGATE_INSTANCE": str(self.work / host),
            "MAILGATE_DATABASE_URL": self.url,
            "MAILGATE_REPLY_DOMAIN": DOMAIN,
            "MAILGATE_SECRET_KEY": "fleet-secret",
            "MAILGATE_MAILERS": '[{"key": "test", "type": "test"}]',
            "MAILGATE_SENDER_AUTH": "off",  # no DNS: tests/senderauth covers it with its own name server
            # Load from one client and a few senders, far past any person's rate (the limits' own tests set them).
            "MAILGATE_RATE_LIMIT_PER_CLIENT": "off", "MAILGATE_RATE_LIMIT_PER_SENDER": "off",
        }

    @property
    def url(self) -> str:
        return self.pg.url if self.database == "postgresql" else f"sqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        return self.work / "mailgate.db"

    def start(self) -> "Fleet":
        try:
            if self.database == "postgresql":
                self.pg.start()
            self._seed()
            for i in range(self.n_hosts):
                name = f"host{i}"
                pf = PrivatePostfix(domains=(DOMAIN,), root=Path(tempfile.mkdtemp(prefix=f"mailgate-{name}-",
                                                                                  dir="/tmp")))
                pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
                milter = MilterProcess(env=self.env(name), socket_path=pf.milter_socket,
                                       log_path=self.work / f"{name}-milter.log")
                host = Host(name, pf, milter)
                self.hosts.append(host)
                pf.start()
                milter.start(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def _seed(self) -> None:
        from mailgate.shared import directory, durability, schema
        from mailgate.shared.addresses import issue_reply_address
        from mailgate.shared.config import from_env
        from mailgate.shared.db import Database
        from mailgate.shared.envelope import Envelope
        from mailgate.shared.pipeline import receive

        self.settings = from_env(self.env())
        self.db = Database.from_settings(self.settings)
        schema.init(self.db)
        people = [(f"user{u}", f"user{u}@example.org", f"User {u}") for u in range(self.n_users)]
        with self.db.transaction() as s:
            ids = {n: directory.add_user(s, n, [m], full, settings=self.settings, actor="fleet").id for n, m, full in people}
            directory.add_create_address(s, self.settings, "tasks", f"bugs@{DOMAIN}", actor="fleet")
        refs = []
        for t in range(self.n_tasks):
            raw = (f"From: user0@example.org\r\nTo: bugs@{DOMAIN}\r\nSubject: Printer {t} on fire\r\n"
                   f"Message-ID: <fleet-task-{t}@example.org>\r\n\r\nIt burns.\r\n").encode()
            out = receive(self.db, self.settings, Envelope(source="test", sender="user0@example.org",
                                                           recipients=[f"bugs@{DOMAIN}"]), raw)
            assert out.status == "processed", out
            refs.append(out.object)
        with durability.transaction(self.db) as conn:
            for ref in refs:
                for name, mail, full in people:
                    addr, _ = issue_reply_address(conn, self.settings, ref, ids[name])
                    self.targets.append((mail, full, addr, ref))

    def stop(self) -> None:
        """Stop everything started, whatever state it is in (safe to call twice)."""
        for host in self.hosts:
            try:
                host.milter.stop(timeout=15)
            except Exception:  # noqa: BLE001 -- keep stopping the rest
                if host.milter.proc is not None and host.milter.proc.poll() is None:
                    host.milter.kill()
            try:
                host.postfix.stop(remove=not self.keep)
            except Exception:  # noqa: BLE001
                pass
        self.hosts = []
        if self.db is not None:
            self.db.dispose()
            self.db = None
        if self.keep:
            self.pg.stop()
        else:
            self.pg.destroy()
            shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> "Fleet":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def logs(self) -> str:
        parts = []
        for host in self.hosts:
            parts.append(f"--- {host.name} milter ---\n{host.milter.log()[-1500:]}")
            parts.append(f"--- {host.name} postfix ---\n{host.postfix._log_tail(10)}")
        parts.append(f"--- postgres ---\n{self.pg.log_tail(10)}")
        return "\n".join(parts)


# --- messages -------------------------------------------------------------------------------

def reply(tag: str, sender: str, name: str, to: str, ref: str, msgid: str | None = None) -> tuple[str, bytes]:
    """A realistic reply (new text, signature, quoted history); returns (Message-ID, bytes)."""
    msgid = msgid or f"{tag}-{time.time_ns()}@example.org"
    body = (f"Reply {tag}: the fix works for me.\n"
            "The printer on the third floor still jams when duplex printing is on.\n\n"
            f"--\n{name}\nOperations\n\n"
            f"On Mon, 2 Nov 2026 at 10:00, Mailgate <noreply@{DOMAIN}> wrote:\n{QUOTE}\n")
    head = (f"From: {name} <{sender}>\r\nTo: {to}\r\nSubject: Re: [{ref}] Printer on fire\r\n"
            f"Message-ID: <{msgid}>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    return msgid, (head + body.replace("\n", "\r\n")).encode()


# --- the sending side -----------------------------------------------------------------------

@dataclass
class Attempt:
    host: int
    code: int  # SMTP reply code; 0: connection error or timeout (outcome unknown to the client)
    stage: str  # connect | MAIL | RCPT | DATA
    text: str = ""


@dataclass
class Delivery:
    msgid: str
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].code == 250

    @property
    def refused_first(self) -> bool:
        return bool(self.attempts) and self.attempts[0].code != 250

    @property
    def permanent(self) -> bool:
        return any(a.code >= 500 for a in self.attempts)


class SmtpSender:
    """One client "connection" of a sending MTA: a cached SMTP session per host, dropped after any failure."""

    def __init__(self, ports: list[int], timeout: float = 60.0, helo: str = "sender.example.org"):
        self.ports = ports
        self.timeout = timeout
        self.helo = helo
        self.sessions: dict[int, smtplib.SMTP] = {}

    def _session(self, host: int) -> smtplib.SMTP:
        smtp = self.sessions.get(host)
        if smtp is None:
            smtp = smtplib.SMTP("127.0.0.1", self.ports[host], timeout=self.timeout)
            code, text = smtp.ehlo(self.helo)
            if code != 250:
                smtp.close()
                raise smtplib.SMTPResponseException(code, text)
            self.sessions[host] = smtp
        return smtp

    def drop(self, host: int) -> None:
        smtp = self.sessions.pop(host, None)
        if smtp is not None:
            try:
                smtp.quit()
            except Exception:  # noqa: BLE001
                smtp.close()

    def close(self) -> None:
        for host in list(self.sessions):
            self.drop(host)

    def send_once(self, host: int, sender: str, rcpt: str, raw: bytes) -> Attempt:
        stage = "connect"
        try:
            smtp = self._session(host)
            stage = "MAIL"
            code, text = smtp.mail(sender)
            if code == 250:
                stage = "RCPT"
                code, text = smtp.rcpt(rcpt)
            if code == 250:
                stage = "DATA"
                code, text = smtp.data(raw)
        except (smtplib.SMTPException, OSError) as exc:
            self.drop(host)
            code = getattr(exc, "smtp_code", 0) or 0
            return Attempt(host, code if code >= 400 else 0, stage, f"{exc.__class__.__name__}: {exc}")
        if code != 250:
            # After a refusal start clean: a milter failure taints the rest of Postfix's session.
            self.drop(host)
        return Attempt(host, code, stage, text.decode(errors="replace") if isinstance(text, bytes) else str(text))

    def deliver(self, msgid: str, first_host: int, sender: str, rcpt: str, raw: bytes, *, max_attempts: int = 12,
                backoff: float = 0.25, max_backoff: float = 4.0) -> Delivery:
        """Send until 250 or a 5xx, retrying 4xx/errors on the next host with exponential backoff."""
        d = Delivery(msgid)
        host, delay = first_host, backoff
        for n in range(max_attempts):
            a = self.send_once(host, sender, rcpt, raw)
            d.attempts.append(a)
            if a.code == 250 or a.code >= 500:
                break
            if n + 1 < max_attempts:
                time.sleep(delay)
                delay = min(delay * 2, max_backoff)
                host = (host + 1) % len(self.ports)
        return d


# --- the database's view ------------------------------------------------------------------------

def rows_by_message_id(db, msgids: list[str]) -> dict[str, dict]:
    """Per Message-ID: rows stored, by status/reason, and comments made from them."""
    from sqlalchemy import func, select

    from mailgate.shared.models import Comment, ReceivedMessage

    out = {m: {"rows": 0, "processed": 0, "duplicate": 0, "received": 0, "other": [], "comments": 0}
           for m in msgids}
    with db.read() as s:
        for mid, status, reason in s.execute(
                select(ReceivedMessage.message_id, ReceivedMessage.status, ReceivedMessage.reason)
                .where(ReceivedMessage.source == "milter")):
            if mid not in out:
                continue
            r = out[mid]
            r["rows"] += 1
            if status == "processed":
                r["processed"] += 1
            elif status == "ignored" and reason == "duplicate":
                r["duplicate"] += 1
            elif status == "received":
                r["received"] += 1
            else:
                r["other"].append(f"{status}/{reason}")
        for mid, n in s.execute(
                select(ReceivedMessage.message_id, func.count(Comment.id))
                .join(Comment, Comment.source_message_id == ReceivedMessage.id)
                .group_by(ReceivedMessage.message_id)):
            if mid in out:
                out[mid]["comments"] += n
    return out
