#!/usr/bin/env python3
"""Benchmark: Postfix alone vs Postfix + `mailgate milter` doing the full processing.

    .venv/bin/python -P bench/milter_throughput.py [--clients 8] [--per-client 2000]
    .venv/bin/python -P bench/milter_throughput.py --postgres     # (b) on a throwaway PostgreSQL cluster
    .venv/bin/python -P bench/milter_throughput.py --sender-auth-compare --per-client 500
                                      # MAILGATE_SENDER_AUTH off against report, DKIM-signed mail,
                                      # a name server on loopback answering SPF, DKIM and DMARC

Runs, in one go on this machine, two private Postfix instances (`postfix -c`,
own queue, high loopback port; the system Postfix is left alone):

  (a) no milter: Mailgate's domain is a relay domain delivered to `discard:`
      (not the real safety net, which bounces), i.e. Postfix's own cost for the same mail;
  (b) the same Postfix with `smtpd_milters` = `mailgate milter` on a unix
      socket, SQLite in WAL mode (each message committed and fdatasynced to
      disk before the end-of-message answer: group commit per batch), every
      message a realistic reply (new text, signature, quoted history,
      sometimes a !command) to a signed reply address: stored, parsed,
      commented, notifications queued to the task's other subscribers.
      The replies go to users x tasks distinct addresses (400 by default),
      so most RCPTs are answered from the milter's short RCPT cache;
      `--rcpt-cache-seconds 0` measures every RCPT looked up. Every user
      replies to every task, so by default a task soon has 10 subscribers and
      a reply queues ~9 notifications; `--users 2 --tasks 400` gives the
      one-notification reply of bench/receive_speed.py.

N concurrent smtplib clients each send their share over fresh connections.
Both Postfix instances run throughout, and (a) and (b) take turns in
`--rounds` rounds (8 by default), each a share of the messages: this VM's
speed drifts by tens of percent within minutes (other guests take its cores:
the "stolen" figure), and a ratio of two phases minutes apart measured the
drift as much as the milter. The totals are over all rounds; each round's
ratio is printed too.
Prints messages/s for both, the ratio b/a, and client-side latency
percentiles per SMTP stage (RCPT answer, DATA: from the DATA command to the
final answer, and the whole message from connect to the final answer), and
checks that (b) stored and processed every message.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from mailgate.shared import directory, durability, schema
from mailgate.shared.addresses import issue_reply_address
from mailgate.shared.config import from_env
from mailgate.shared.db import Database
from mailgate.shared.envelope import Envelope
from mailgate.shared.pipeline import receive

# The private-Postfix harness lives with the tests (it is not part of the installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from privatepostfix import MilterProcess, PrivatePostfix  # noqa: E402

DOMAIN = "reply.example.com"
QUOTE = "\n".join(f"> line {i} of the earlier discussion, quoted back by the mail client." for i in range(15))
COMMANDS = ["", "", "", "", "", "", "", "", "!priority high\n\n", "!assign alice\n\n"]


def reply(i: int, sender: str, name: str, to: str, ref: str) -> bytes:
    body = (
        f"Thanks, I had a look at this (reply {i}); the fix works for me.\n"
        "The printer on the third floor still jams when duplex printing is on,\n"
        "could you check the tray settings before closing this?\n\n"
        + COMMANDS[i % len(COMMANDS)]
        + f"--\n{name}\nOperations\n\n"
        f"On Mon, 2 Nov 2026 at 10:{i % 60:02d}, Mailgate <noreply@{DOMAIN}> wrote:\n{QUOTE}\n"
    )
    headers = (
        f"From: {name} <{sender}>\r\nTo: {to}\r\nSubject: Re: [{ref}] Printer on fire\r\n"
        f"Message-ID: <bench-{i}-{time.time_ns()}@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    return (headers + body.replace("\n", "\r\n")).encode()


@dataclass
class Stats:
    rcpt: list[float] = field(default_factory=list)
    data: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class MachineCpu:
    """Where the machine's CPU went during a phase: all cores, and this process (the SMTP clients)."""

    busy: float = 0.0  # CPU seconds, every core, every process (and the kernel's own work)
    idle: float = 0.0
    steal: float = 0.0  # taken by the hypervisor for other guests: a VM's cores are not all ours
    clients: float = 0.0

    @staticmethod
    def now() -> "MachineCpu":
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle, steal = ticks[3] + ticks[4], ticks[7]  # idle + iowait; steal
        hz = os.sysconf("SC_CLK_TCK")
        return MachineCpu((sum(ticks[:7]) - idle) / hz, idle / hz, steal / hz, time.process_time())

    def since(self, start: "MachineCpu") -> "MachineCpu":
        return MachineCpu(self.busy - start.busy, self.idle - start.idle, self.steal - start.steal,
                          self.clients - start.clients)

    def __add__(self, other: "MachineCpu") -> "MachineCpu":
        return MachineCpu(self.busy + other.busy, self.idle + other.idle, self.steal + other.steal,
                          self.clients + other.clients)


@dataclass
class Phase:
    """(a) or (b) over its rounds: their messages, time and CPU added up."""

    elapsed: float = 0.0
    stats: Stats = field(default_factory=Stats)
    machine: MachineCpu = field(default_factory=MachineCpu)
    cpu: tuple[float, float] = (0.0, 0.0)  # (b): the milter process's, the writer process's
    rounds: list[float] = field(default_factory=list)  # msg/s of each round

    def run(self, pf: PrivatePostfix, jobs: list[tuple[str, str, bytes]], clients: int,
            milters: Sequence[int] = (), writers: Sequence[int] = ()) -> None:
        c0 = (sum(cpu_seconds(p) for p in milters), sum(cpu_seconds(w) for w in writers))
        m0 = MachineCpu.now()
        elapsed, st = send_all(pf.port, jobs, clients)
        used = MachineCpu.now().since(m0)
        c1 = (sum(cpu_seconds(p) for p in milters), sum(cpu_seconds(w) for w in writers))
        pf.wait_queue_empty(120)  # delivered (or dropped) before the other phase starts
        self.elapsed += elapsed
        self.rounds.append(len(st.whole) / elapsed if elapsed else 0.0)
        for name in ("rcpt", "data", "whole", "errors"):
            getattr(self.stats, name).extend(getattr(st, name))
        self.machine = self.machine + used
        self.cpu = (self.cpu[0] + c1[0] - c0[0], self.cpu[1] + c1[1] - c0[1])


def send_all(port: int, jobs: list[tuple[str, str, bytes]], clients: int) -> tuple[float, Stats]:
    stats = Stats()
    shares = [jobs[i::clients] for i in range(clients)]
    start_gate = threading.Barrier(clients + 1)

    def client(share: list[tuple[str, str, bytes]]) -> None:
        rcpt_t, data_t, whole_t, errs = [], [], [], []
        start_gate.wait()
        for sender, rcpt, raw in share:
            t0 = time.perf_counter()
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
                smtp.ehlo("bench.example.org")
                code, text = smtp.mail(sender)
                t1 = time.perf_counter()
                code, text = smtp.rcpt(rcpt)
                t2 = time.perf_counter()
                if code != 250:
                    errs.append(f"RCPT {code} {text!r}")
                    smtp.quit()
                    continue
                code, text = smtp.data(raw)
                t3 = time.perf_counter()
                if code != 250:
                    errs.append(f"DATA {code} {text!r}")
                smtp.quit()
            except Exception as exc:  # noqa: BLE001 -- counted, reported
                errs.append(f"{exc.__class__.__name__}: {exc}")
                continue
            rcpt_t.append(t2 - t1)
            data_t.append(t3 - t2)
            whole_t.append(t3 - t0)
        with stats.lock:
            stats.rcpt += rcpt_t
            stats.data += data_t
            stats.whole += whole_t
            stats.errors += errs

    threads = [threading.Thread(target=client, args=(s,)) for s in shares]
    for t in threads:
        t.start()
    start_gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, stats


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_machine(used: MachineCpu, n: int, ours: float = 0.0) -> None:
    """The phase's CPU per message: a phase with idle cores was limited by waiting, not by CPU."""
    per = 1000 / max(1, n)
    whole = used.busy + used.idle + used.steal
    rest = used.busy - used.clients - ours
    mailgate = f", mailgate {ours * per:.2f}" if ours else ""
    print(f"  machine CPU per message: {used.busy * per:.2f} ms (cores {used.busy / whole if whole else 0:.0%} busy, "
          f"{used.steal / whole if whole else 0:.0%} stolen by the hypervisor): SMTP clients "
          f"{used.clients * per:.2f}{mailgate}, Postfix, the kernel and anything else running {rest * per:.2f}")


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (the milter's writer process)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def describe(name: str, elapsed: float, n: int, st: Stats) -> dict:
    ok = len(st.whole)
    rate = ok / elapsed if elapsed else 0.0
    print(f"\n({name}) {ok}/{n} messages in {elapsed:.1f} s = {rate:.0f} msg/s"
          + (f"; {len(st.errors)} errors, first: {st.errors[0]}" if st.errors else ""))
    print("  stage       p50 ms   p90 ms   p99 ms   max ms")
    for label, values in (("RCPT", st.rcpt), ("DATA", st.data), ("message", st.whole)):
        print(f"  {label:<9} {pct(values, 50):8.2f} {pct(values, 90):8.2f} {pct(values, 99):8.2f} "
              f"{pct(values, 100):8.2f}")
    return {"rate": rate, "p50": pct(st.whole, 50), "p99": pct(st.whole, 99), "rcpt99": pct(st.rcpt, 99),
            "data99": pct(st.data, 99), "errors": len(st.errors)}


SERVER_STAGES = ("rcpt_ms", "receive_ms", "store_ms", "route_ms", "parse_ms", "act_ms", "sync_ms", "batch", "ms")


def server_stages(log_text: str) -> dict[str, list[float]]:
    """Per-stage milliseconds from the milter's one-line-per-message log."""
    out: dict[str, list[float]] = {k: [] for k in SERVER_STAGES}
    for line in log_text.splitlines():
        if " mailgate.milter message " not in line:
            continue
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        for k in SERVER_STAGES:
            try:
                out[k].append(float(fields[k]) / (1 if k == "batch" else 1000))
            except (KeyError, ValueError):
                pass
    return out


def prepare(instance: Path, users: int, tasks: int, database_url: str | None = None,
            extra: dict[str, str] | None = None) -> tuple[dict[str, str], list[tuple[str, str, str, str]]]:
    """A fresh durable database with users, tasks, and one reply address per (task, user)."""
    env = {
        "MAILGATE_INSTANCE": str(instance),
        "MAILGATE_DATABASE_URL": database_url or f"sqlite:///{instance / 'mailgate.db'}",
        "MAILGATE_REPLY_DOMAIN": DOMAIN,
        "MAILGATE_SECRET_KEY": "bench",
        "MAILGATE_MAILERS": '[{"key": "test", "type": "test"}]',
        "MAILGATE_SENDER_AUTH": "off",  # the main comparison leaves it out; --sender-auth-compare measures it
        "MAILGATE_CONFIG": "",
        "MAILGATE_RATE_LIMIT_PER_CLIENT": "off", "MAILGATE_RATE_LIMIT_PER_SENDER": "off",  # load from one client
        **(extra or {}),
    }
    settings = from_env(env)
    db = Database.from_settings(settings)
    if not settings.is_sqlite:  # a throwaway database: start from an empty schema
        from sqlalchemy import text

        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    schema.init(db)
    people = [(f"user{u}", f"user{u}@example.org", f"User {u}") for u in range(users)]
    with db.transaction() as s:
        ids = {name: directory.add_user(s, name, [mail], full, settings=settings, actor="bench").id for name, mail, full in people}
        directory.add_user(s, "alice", ["alice@example.org"], "Alice", settings=settings, actor="bench")
        directory.add_create_address(s, settings, "tasks", f"bugs@{DOMAIN}", actor="bench")
    refs = []
    for t in range(tasks):
        raw = (f"From: user0@example.org\r\nTo: bugs@{DOMAIN}\r\nSubject: Printer {t} on fire\r\n"
               f"Message-ID: <bench-task-{t}@example.org>\r\n\r\nIt burns.\r\n").encode()
        out = receive(db, settings, Envelope(source="test", sender="user0@example.org",
                                             recipients=[f"bugs@{DOMAIN}"]), raw)
        refs.append(out.object)
    targets = []
    with durability.transaction(db) as conn:
        for ref in refs:
            for name, mail, full in people:
                addr, _ = issue_reply_address(conn, settings, ref, ids[name])
                targets.append((mail, full, addr, ref))
    db.dispose()
    return env, targets


def count_processed(env: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import func, select

    from mailgate.shared.models import ReceivedMessage

    db = Database.from_settings(from_env(env))
    with db.read() as s:
        rows = s.execute(select(ReceivedMessage.status, func.count()).where(ReceivedMessage.source == "milter")
                         .group_by(ReceivedMessage.status)).all()
    db.dispose()
    return {status: n for status, n in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=2000, help="messages per client")
    ap.add_argument("--rounds", type=int, default=8,
                    help="(a) and (b) take turns this many times, each round a share of the messages "
                         "(1: all of (a), then all of (b))")
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--tasks", type=int, default=40)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    ap.add_argument("--database-url", help="run (b) on this PostgreSQL database instead of SQLite; "
                    "THROWAWAY: its public schema is dropped and re-created")
    ap.add_argument("--postgres", action="store_true",
                    help="run (b) on a throwaway PostgreSQL cluster (scripts/pg.sh), stopped at the end")
    ap.add_argument("--milter-cpu", default=None,
                    help="the milter's MAILGATE_MILTER_CPU: auto pins it to one CPU (default: not pinned)")
    ap.add_argument("--sender-auth-compare", action="store_true",
                    help="instead of (a) against (b): the milter with MAILGATE_SENDER_AUTH=off against report, "
                         "every message DKIM-signed, a name server on loopback (tests/support/dnsserver.py)")
    ap.add_argument("--unsigned", action="store_true",
                    help="with --sender-auth-compare: no DKIM signature (SPF and DMARC only)")
    ap.add_argument("--rcpt-cache-seconds", type=float, default=None,
                    help="the milter's MAILGATE_MILTER_RCPT_CACHE_SECONDS (default: the milter's own, 10 s); "
                         "0 looks every RCPT up, as when every reply address is new")
    args = ap.parse_args()
    total = args.clients * args.per_client

    work = Path(tempfile.mkdtemp(prefix="mailgate-bench-", dir="/tmp"))
    os.chmod(work, 0o755)
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.2f} · work dir {work}")
    pgdir = None
    if args.postgres:
        import subprocess

        pgdir = Path(tempfile.mkdtemp(prefix="mailgate-bench-pg-", dir="/tmp"))  # outside `work`, removed by run()
        pg_sh = Path(__file__).resolve().parents[1] / "scripts" / "pg.sh"
        args.database_url = subprocess.run(
            ["bash", "-c", f'. "{pg_sh}" && pg_start "$1" "$2"', "pg_start", str(pgdir), str(55500 + os.getpid() % 400)],
            check=True, capture_output=True, text=True, timeout=120).stdout.strip().splitlines()[-1]
    try:
        return run_sender_auth(args, work, total) if args.sender_auth_compare else run(args, work, total)
    finally:
        if pgdir is not None:
            subprocess.run(["bash", "-c", f'. "{pg_sh}" && pg_stop "$1"', "pg_stop", str(pgdir)], timeout=120)
            if not args.keep:
                shutil.rmtree(pgdir, ignore_errors=True)


def run(args, work: Path, total: int) -> int:
    database = "PostgreSQL" if args.database_url else "durable SQLite"
    if args.database_url:
        print(f"database for (b): {args.database_url}")
    env, targets = prepare(work / "instance", args.users, args.tasks, args.database_url)
    jobs = []
    for i in range(total):
        mail, full, addr, ref = targets[(i * 7919) % len(targets)]
        jobs.append((mail, addr, reply(i, mail, full, addr, ref)))
    size = sum(len(j[2]) for j in jobs) / len(jobs)
    print(f"{total} replies ({args.clients} clients x {args.per_client}), {size:,.0f} bytes on average, "
          f"to {len(targets)} distinct reply addresses; one SMTP connection per message")

    # Fresh Message-IDs for (b): no duplicates of (a)'s (which never reach Mailgate anyway).
    jobs_b = [(mail, addr, raw.replace(b"Message-ID: <bench-", b"Message-ID: <bench-b-", 1))
              for mail, addr, raw in jobs]
    rounds = max(1, min(args.rounds, args.per_client))
    if rounds > 1:
        print(f"(a) and (b) alternate in {rounds} rounds of {total // rounds} messages: a slow minute of "
              "this machine then slows both, not one")
    pf_a = PrivatePostfix(domains=(DOMAIN,), safety_net="discard:NOT-CONSUMED-BY-MAILGATE")
    pf_b = PrivatePostfix(domains=(DOMAIN,))
    pf_b.milter_socket = str(pf_b.root / "queue" / "mailgate" / "milter.sock")
    milter_env = dict(env)
    if args.milter_cpu is not None:
        milter_env["MAILGATE_MILTER_CPU"] = args.milter_cpu
    if args.rcpt_cache_seconds is not None:
        milter_env["MAILGATE_MILTER_RCPT_CACHE_SECONDS"] = str(args.rcpt_cache_seconds)
    milter = MilterProcess(env=milter_env, socket_path=pf_b.milter_socket, log_path=work / "milter.log")
    phases = {"a": Phase(), "b": Phase()}
    try:
        pf_a.start()
        pf_b.start()
        milter.start()
        writers = children(milter.proc.pid)
        for r in range(rounds):
            part = slice(r * total // rounds, (r + 1) * total // rounds)
            phases["a"].run(pf_a, jobs[part], args.clients)
            phases["b"].run(pf_b, jobs_b[part], args.clients, [milter.proc.pid], writers)
            if rounds > 1:
                a, b = phases["a"].rounds[-1], phases["b"].rounds[-1]
                print(f"  round {r + 1}: (a) {a:.0f} msg/s, (b) {b:.0f} msg/s, ratio {b / a if a else 0:.2f}")
    finally:
        milter.stop()
        for pf in (pf_a, pf_b):
            pf.stop(remove=not args.keep)

    results = {}
    pa, pb = phases["a"], phases["b"]
    results["a"] = describe("a: Postfix, no milter", pa.elapsed, total, pa.stats)
    print_machine(pa.machine, len(pa.stats.whole))
    results["b"] = describe(f"b: Postfix + mailgate milter (full processing, {database})", pb.elapsed, total,
                            pb.stats)
    n = max(1, len(pb.stats.whole))
    cpu, wcpu = pb.cpu
    print(f"  CPU per message: milter process (SMTP sessions) {cpu / n * 1000:.2f} ms + writer process "
          f"(store, parse, act, fsync) {wcpu / n * 1000:.2f} ms = {(cpu + wcpu) / n * 1000:.2f} ms "
          f"(steadier than msg/s, not load-free: other work on the cores costs them cache misses)")
    print_machine(pb.machine, n, cpu + wcpu)
    stages = server_stages((work / "milter.log").read_text(errors="replace"))
    labels = {"rcpt_ms": "RCPT check", "receive_ms": "in the writer", "store_ms": " store (batch)",
              "route_ms": " dedupe..auth", "parse_ms": " guard+parse", "act_ms": " act", "sync_ms": " group fsync",
              "batch": "batch size", "ms": "MAIL..EOM"}
    print("  inside the milter (from its log; batch size in messages, the rest in ms):")
    print("  stage               p50      p90      p99")
    for k in SERVER_STAGES:
        scale = 1 / 1000 if k == "batch" else 1  # pct() gives thousandths
        print(f"  {labels[k]:<15} {pct(stages[k], 50) * scale:8.2f} {pct(stages[k], 90) * scale:8.2f} "
              f"{pct(stages[k], 99) * scale:8.2f}")
    counts = count_processed(env)
    print(f"  stored by the milter: {sum(counts.values())} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")

    a, b = results["a"], results["b"]
    per_round = sorted(y / x for x, y in zip(pa.rounds, pb.rounds) if x)
    spread = (f"; by round {per_round[0]:.2f}-{per_round[-1]:.2f}, median {statistics.median(per_round):.2f}"
              if len(per_round) > 1 else "")
    print(f"\nratio b/a = {b['rate'] / a['rate']:.2f}{spread}   (target >= 0.5)")
    print(f"added latency per message: p50 {b['p50'] - a['p50']:+.1f} ms, p99 {b['p99'] - a['p99']:+.1f} ms "
          f"(target p99 <= 20 ms)")
    print(f"load average after the run: {os.getloadavg()[0]:.2f} (other work on this machine skews numbers)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0 if not (a["errors"] or b["errors"]) else 1


def run_sender_auth(args, work: Path, total: int) -> int:
    """off against report, each on its own Postfix, milter and database, taking turns per round."""
    from dnszones import DnsServer, make_signer

    signer = make_signer("example.org", work)
    zone = ("$TTL 300\n"
            'example.org. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"\n'
            '_dmarc.example.org. 300 IN TXT "v=DMARC1; p=reject"\n'
            + "sel._domainkey.example.org. 300 IN TXT "
            + " ".join(f'"{signer.public_record[i:i + 250]}"' for i in range(0, len(signer.public_record), 250))
            + "\n")
    dns = DnsServer(zone).start()
    modes = ("off", "report")
    setups = {}
    for mode in modes:
        extra = {"MAILGATE_SENDER_AUTH": mode, "MAILGATE_DNS_SERVERS": dns.address, "MAILGATE_DNS_TIMEOUT": "2"}
        setups[mode] = prepare(work / mode, args.users, args.tasks, None, extra)
    t0 = time.perf_counter()
    jobs: dict[str, list] = {m: [] for m in modes}
    for i in range(total):
        mail, full, addr, ref = setups["off"][1][(i * 7919) % len(setups["off"][1])]
        raw = reply(i, mail, full, addr, ref)
        if not args.unsigned:
            raw = signer.sign(raw, headers=(b"from", b"subject", b"message-id", b"date"))
        for mode in modes:  # the same signed bytes; each instance's own reply address in the envelope
            jobs[mode].append((mail, setups[mode][1][(i * 7919) % len(setups[mode][1])][2], raw))
    print(f"{total} {'unsigned' if args.unsigned else 'DKIM-signed'} replies (rsa-sha256, 2048 bits, "
          f"made in {time.perf_counter() - t0:.0f} s), "
          f"{args.clients} clients; sender authentication off against report, DNS on {dns.address}")
    rounds = max(1, min(args.rounds, args.per_client))
    postfixes, milters, phases = {}, {}, {m: Phase() for m in modes}
    try:
        for mode in modes:
            pf = postfixes[mode] = PrivatePostfix(domains=(DOMAIN,))
            pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
            pf.start()
            milters[mode] = MilterProcess(env=setups[mode][0], socket_path=pf.milter_socket,
                                          log_path=work / f"milter-{mode}.log").start()
        for r in range(rounds):
            part = slice(r * total // rounds, (r + 1) * total // rounds)
            for mode in (modes if r % 2 == 0 else modes[::-1]):  # neither always goes first
                proc = milters[mode].proc
                phases[mode].run(postfixes[mode], jobs[mode][part], args.clients, [proc.pid], children(proc.pid))
            off, rep_ = phases["off"].rounds[-1], phases["report"].rounds[-1]
            print(f"  round {r + 1}: off {off:.0f} msg/s, report {rep_:.0f} msg/s, ratio {rep_ / off if off else 0:.2f}")
    finally:
        for mode in milters:
            milters[mode].stop()
        for pf in postfixes.values():
            pf.stop(remove=not args.keep)
        dns.stop()
    results = {}
    for mode in modes:
        ph = phases[mode]
        results[mode] = describe(f"sender authentication {mode}", ph.elapsed, total, ph.stats)
        n = max(1, len(ph.stats.whole))
        print(f"  CPU per message: milter process {ph.cpu[0] / n * 1000:.2f} ms + writer process "
              f"{ph.cpu[1] / n * 1000:.2f} ms")
        print(f"  stored: {count_processed(setups[mode][0])}")
    verdicts = auth_verdicts(setups["report"][0])
    print(f"  report's verdicts: {verdicts}")
    per_round = sorted(y / x for x, y in zip(phases["off"].rounds, phases["report"].rounds) if x)
    off, rep_ = results["off"], results["report"]
    print(f"\nratio report/off = {rep_['rate'] / off['rate']:.2f}; by round {per_round[0]:.2f}-{per_round[-1]:.2f}, "
          f"median {statistics.median(per_round):.2f}   (target >= 0.85)")
    print(f"added latency per message: p50 {rep_['p50'] - off['p50']:+.1f} ms, p99 {rep_['p99'] - off['p99']:+.1f} ms")
    print(f"load average after the run: {os.getloadavg()[0]:.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if not (off["errors"] or rep_["errors"]) and verdicts.get("pass") == total else 1


def auth_verdicts(env: dict[str, str]) -> dict[str, int]:
    from sqlalchemy import func, select

    from mailgate.shared.models import ReceivedMessage

    db = Database.from_settings(from_env(env))
    with db.read() as s:
        rows = s.execute(select(ReceivedMessage.auth_verdict, func.count()).where(ReceivedMessage.source == "milter")
                         .group_by(ReceivedMessage.auth_verdict)).all()
    db.dispose()
    return {str(v): n for v, n in rows}


if __name__ == "__main__":
    sys.exit(main())
