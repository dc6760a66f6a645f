#!/usr/bin/env python3
"""Fleet soak with faults: two MX hosts on one PostgreSQL, a milter killed and PostgreSQL stopped under load.

    .venv/bin/python -P bench/soak.py                      # the full run: 10,000 messages, 5 kills, 10 s DB stop
    .venv/bin/python -P bench/soak.py --messages 300 --kills 1 --db-stop 3    # the CI version (~1 min)
    .venv/bin/python -P bench/soak.py --database sqlite --kills 1 --db-stop 0 --readonly 0.5
                                                           # SQLite: its files read-only (chattr +i) for 0.5 s

Starts one PostgreSQL cluster (throwaway, unix socket only), two private
Postfix instances on two loopback ports, and one `mailgate milter` process
beside each (tests/fleet/harness.py). `--clients` sending threads behave like
MTAs: each keeps an SMTP session open to its home host (half the clients on
each host), sends a realistic reply per transaction, and when a message is
refused with 4xx (or the session breaks) drops the session, backs off
exponentially (0.25 s doubling to 4 s, at most `--attempts` tries) and retries
on the other MX host.

Meanwhile a fault thread, at fixed points of the progress, SIGKILLs host 0's
milter (and starts it again `--restart-delay` seconds later, as a service
manager would) `--kills` times, and once stops PostgreSQL (`pg_ctl stop -m
fast`: sessions cut, open transactions rolled back) for `--db-stop` seconds.
With `--database sqlite` (every host's milter on one SQLite file) the
`--readonly` fault makes the file, its -wal and its -shm immutable (`chattr
+i`) for that many seconds instead, and then measures the recovery time: from
the fault's end until a probe message, sent every 0.1 s on a fresh
connection, gets 250 (target: under 5 s; the run fails above it).

At the end the copies left `received` by killed milters are finished by
recover_stale (as the worker does), then every Message-ID is looked up in the
database. Printed counts: accepted at the first try, accepted after 4xx
refusals, given up; stored exactly once (one `processed` row and one comment)
among each, lost (accepted but not acted on), duplicated (acted on twice),
and the extra copies that were recorded as `ignored/duplicate`. Exit status 0
only when nothing was lost, duplicated, refused for good or given up.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load_harness():
    """tests/fleet/harness.py, by path (the repository root must never be on sys.path)."""
    name = "mailgate_fleet_harness"
    if name in sys.modules:
        return sys.modules[name]
    support = str(HERE.parent / "tests" / "support")  # the harness imports privatepostfix from there
    if support not in sys.path:
        sys.path.insert(0, support)
    spec = importlib.util.spec_from_file_location(name, HERE.parent / "tests" / "fleet" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


RECOVERY_TARGET_S = 5.0  # mail must flow again this soon after a read-only database is writable again


@dataclass
class Fault:
    kind: str  # kill | db-stop | readonly
    at_fraction: float
    fired_at: int = -1  # messages finished when it fired
    seconds: float = 0.0  # how long the host/database was away
    detail: str = ""
    recovery: float | None = None  # readonly: seconds from the fault's end to the first 250 (None: never)


@dataclass
class Progress:
    total: int
    done: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def finish_one(self) -> None:
        with self.cond:
            self.done += 1
            self.cond.notify_all()

    def wait_for(self, n: int, stop: threading.Event) -> bool:
        with self.cond:
            while self.done < n and not stop.is_set():
                self.cond.wait(0.5)
            return self.done >= n


def schedule(kills: int, db_stop: float, readonly: float = 0.0) -> list[Fault]:
    """Faults evenly spread over 10 %..90 % of the messages; the database faults in the middle."""
    database_faults = (["db-stop"] if db_stop > 0 else []) + (["readonly"] if readonly > 0 else [])
    n = kills + len(database_faults)
    fractions = [0.1 + 0.8 * (k + 0.5) / n for k in range(n)] if n else []
    faults = [Fault("kill", f) for f in fractions]
    for i, kind in enumerate(database_faults):
        faults[n // 2 + i].kind = kind
    return faults


def readonly_fault(fleet, seconds: float, probe, log, restart_delay: float = 2.0) -> tuple[float, float | None, list]:
    """The SQLite file, -wal and -shm immutable for `seconds`; then the time until a probe gets 250.

    A process whose mapping of the -shm file is written while the file is immutable gets SIGBUS from
    the kernel and dies; a milter found dead is started again `restart_delay` seconds later, as the
    systemd unit does (Restart=on-failure, RestartSec=2), and the recovery time includes that.
    """
    import subprocess

    db = fleet.sqlite_path
    files = [str(p) for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]
    t0 = time.monotonic()
    subprocess.run(["chattr", "+i", *files], check=True)
    try:
        time.sleep(seconds)
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    over = time.monotonic()
    restarted = []
    while time.monotonic() - over < 60:
        for host in fleet.hosts:
            if host.milter_pid is None:
                restarted.append(f"{host.name} (exit {host.milter.proc.returncode})")
                time.sleep(restart_delay)
                host.start_milter(timeout=60)
        if probe():
            return over - t0, time.monotonic() - over, restarted
        time.sleep(0.1)
    return over - t0, None, restarted


def run_faults(fleet, faults: list[Fault], progress: Progress, stop: threading.Event, db_stop: float,
               restart_delay: float, log, done: threading.Event, errors: list, readonly: float = 0.0,
               probe=None) -> None:
    try:
        _run_faults(fleet, faults, progress, stop, db_stop, restart_delay, log, readonly, probe)
    except BaseException as exc:  # noqa: BLE001 -- reported by soak()
        errors.append(exc)
        stop.set()
    finally:
        done.set()


def _run_faults(fleet, faults: list[Fault], progress: Progress, stop: threading.Event, db_stop: float,
                restart_delay: float, log, readonly: float = 0.0, probe=None) -> None:
    host = fleet.hosts[0]
    for fault in faults:
        if not progress.wait_for(int(fault.at_fraction * progress.total), stop):
            return
        fault.fired_at = progress.done
        t0 = time.monotonic()
        if fault.kind == "kill":
            old = host.milter_pid
            host.kill_milter()
            time.sleep(restart_delay)  # a service manager's RestartSec
            host.start_milter(timeout=120)
            fault.seconds = time.monotonic() - t0
            fault.detail = f"pid {old} -> {host.milter_pid}"
        elif fault.kind == "readonly":
            fault.seconds, fault.recovery, restarted = readonly_fault(fleet, readonly, probe, log)
            fault.detail = ("chattr +i db, -wal, -shm; mail flowed again "
                            + (f"{fault.recovery:.2f} s after" if fault.recovery is not None else "NEVER (60 s)")
                            + (f"; milter died meanwhile, restarted: {', '.join(restarted)}" if restarted else ""))
        else:
            fleet.pg.stop("fast")
            down = time.monotonic()
            time.sleep(max(0.0, db_stop - (down - t0)))
            fleet.pg.start()
            fault.seconds = time.monotonic() - t0
            fault.detail = "pg_ctl stop -m fast ... start"
        log(f"  fault {fault.kind} at {fault.fired_at}/{progress.total} messages: {fault.seconds:.1f} s away"
            f" ({fault.detail})")


def probe_sender(fleet, tag: str):
    """A probe: one valid reply to host 0 on a fresh connection; True when it got 250 (the probes are extra
    messages, not counted among the soak's)."""
    h = load_harness()
    count = iter(range(10**9))

    def probe() -> bool:
        mail, name, addr, ref = fleet.targets[0]
        msgid, raw = h.reply(f"{tag} probe", mail, name, addr, ref, msgid=f"{tag}-probe-{next(count)}@example.org")
        sender = h.SmtpSender([fleet.hosts[0].port], timeout=30)
        try:
            return sender.deliver(msgid, 0, mail, addr, raw, max_attempts=1).accepted
        finally:
            sender.close()

    return probe


def soak(fleet, *, messages: int, clients: int = 8, kills: int = 5, db_stop: float = 10.0,
         restart_delay: float = 1.0, attempts: int = 15, tag: str | None = None, log=print,
         readonly: float = 0.0) -> dict:
    """Run the soak on a started fleet; return the counts (see the module docstring)."""
    h = load_harness()
    from mailgate.shared.pipeline import recover_stale

    tag = tag or f"soak{time.time_ns() % 10**10}"
    ports = [x.port for x in fleet.hosts]
    jobs = []
    for i in range(messages):
        mail, name, addr, ref = fleet.targets[(i * 7919) % len(fleet.targets)]
        jobs.append((f"{tag}-{i}@example.org", mail, name, addr, ref))
    results: list = [None] * messages
    progress = Progress(messages)
    next_job = iter(range(messages))
    job_lock = threading.Lock()
    stop = threading.Event()
    if fleet.database == "sqlite" and db_stop > 0:
        raise ValueError("--db-stop stops PostgreSQL; with --database sqlite use --readonly")
    if readonly > 0 and fleet.database != "sqlite":
        raise ValueError("--readonly makes SQLite's files immutable: use --database sqlite")
    faults = schedule(kills, db_stop, readonly)
    errors: list[BaseException] = []
    faults_done = threading.Event()
    # The last 10 % of the messages wait for the last fault to be over: every fault then happens
    # with traffic still to come, even when a slow restart lets the clients run ahead.
    tail = max(1, int(messages * 0.9)) if faults else messages

    def client(c: int) -> None:
        home = c % len(ports)
        sender = h.SmtpSender(ports)
        try:
            while True:
                with job_lock:
                    i = next(next_job, None)
                if i is None:
                    return
                if i >= tail and not faults_done.wait(600):
                    raise RuntimeError("the faults did not finish within 600 s")
                msgid, mail, name, addr, ref = jobs[i]
                _, raw = h.reply(f"{tag} {i}", mail, name, addr, ref, msgid=msgid)
                results[i] = sender.deliver(msgid, home, mail, addr, raw, max_attempts=attempts)
                for other in list(sender.sessions):  # one connection per client: the home host's
                    if other != home:
                        sender.drop(other)
                progress.finish_one()
        except BaseException as exc:  # noqa: BLE001 -- reported, never silent
            errors.append(exc)
            stop.set()
        finally:
            sender.close()

    fault_thread = threading.Thread(target=run_faults, name="faults", args=(
        fleet, faults, progress, stop, db_stop, restart_delay, log, faults_done, errors, readonly,
        probe_sender(fleet, tag)))
    threads = [threading.Thread(target=client, args=(c,), name=f"client{c}") for c in range(clients)]
    log(f"{messages} messages, {clients} clients over {len(ports)} hosts (ports {ports}), "
        f"faults: {', '.join(f'{f.kind}@{f.at_fraction:.0%}' for f in faults) or 'none'}")
    t0 = time.monotonic()
    fault_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    stop.set()
    fault_thread.join(300)
    if errors:
        raise errors[0]
    # The fleet is whole again before counting (a fault may have fired at the very end).
    if fleet.database == "postgresql" and not fleet.pg.running():
        fleet.pg.start()
    for host in fleet.hosts:
        if host.milter_pid is None:
            host.start_milter()

    msgids = [j[0] for j in jobs]
    before = h.rows_by_message_id(fleet.db, msgids)
    stale_before = sum(r["received"] for r in before.values())
    recovered = 0
    for _ in range(1000):  # finish what killed milters left `received` (the worker does this in production)
        batch = recover_stale(fleet.db, fleet.settings, older_than_seconds=0, limit=500)
        recovered += len(batch)
        if not batch:
            break
    seen = h.rows_by_message_id(fleet.db, msgids)

    c = Counter()
    codes = Counter()
    problems: list[str] = []
    for d in results:
        r = seen[d.msgid]
        once = r["processed"] == 1 and r["comments"] == 1 and not r["other"] and r["received"] == 0
        for a in d.attempts[:-1] if d.accepted else d.attempts:
            codes[f"{a.code or 'conn'} at {a.stage}"] += 1
        if d.accepted and len(d.attempts) == 1:
            c["accepted_first"] += 1
            c["accepted_first_once"] += once
        elif d.accepted:
            c["accepted_after_4xx"] += 1
            c["accepted_after_4xx_once"] += once
        elif d.permanent:
            c["refused_5xx"] += 1
        else:
            c["gave_up"] += 1
        if d.accepted and r["processed"] == 0:
            c["lost"] += 1
        if r["processed"] > 1 or r["comments"] > 1:
            c["duplicated"] += 1
        if r["processed"] == 0 and r["rows"]:
            c["stored_not_acted"] += 1
        c["extra_copies"] += r["duplicate"]
        c["attempts"] += len(d.attempts)
        if not once and len(problems) < 10:
            problems.append(f"{d.msgid}: {r} attempts={[(a.host, a.code, a.stage) for a in d.attempts]}")

    discarded = sum(x.postfix.log().count("NOT-CONSUMED-BY-MAILGATE") for x in fleet.hosts)
    report = {
        "messages": messages, "clients": clients, "hosts": len(ports), "elapsed_s": round(elapsed, 1),
        "rate_msg_s": round(messages / elapsed, 1) if elapsed else 0.0,
        "accepted_first": c["accepted_first"], "accepted_first_stored_once": c["accepted_first_once"],
        "accepted_after_4xx": c["accepted_after_4xx"], "accepted_after_4xx_stored_once": c["accepted_after_4xx_once"],
        "refused_5xx": c["refused_5xx"], "gave_up": c["gave_up"], "lost": c["lost"], "duplicated": c["duplicated"],
        "stored_not_acted": c["stored_not_acted"], "extra_copies_ignored_duplicate": c["extra_copies"],
        "stale_received_recovered": recovered, "stale_received_before_recovery": stale_before,
        "smtp_attempts": c["attempts"], "refusals": dict(sorted(codes.items())),
        "safety_net_discards": discarded,
        "faults": [{"kind": f.kind, "at_message": f.fired_at, "seconds": round(f.seconds, 1), "detail": f.detail,
                    **({"recovery_s": None if f.recovery is None else round(f.recovery, 2)}
                       if f.kind == "readonly" else {})}
                   for f in faults],
        "problems": problems,
    }
    report["ok"] = (report["lost"] == 0 and report["duplicated"] == 0 and report["gave_up"] == 0
                    and report["refused_5xx"] == 0 and discarded == 0
                    and report["accepted_first_stored_once"] == report["accepted_first"]
                    and report["accepted_after_4xx_stored_once"] == report["accepted_after_4xx"]
                    and all(0 <= f.fired_at < messages for f in faults)
                    and all(f.recovery is not None and f.recovery <= RECOVERY_TARGET_S
                            for f in faults if f.kind == "readonly"))
    return report


def print_report(r: dict, out=print) -> None:
    out(f"\n{r['messages']} messages in {r['elapsed_s']} s ({r['rate_msg_s']} msg/s, faults included), "
        f"{r['smtp_attempts']} SMTP transactions")
    for f in r["faults"]:
        out(f"  fault: {f['kind']:<8} at message {f['at_message']:>6}, away {f['seconds']:5.1f} s  {f['detail']}")
        if f["kind"] == "readonly":
            out(f"  recovery after the read-only database: {f['recovery_s']} s (target: {RECOVERY_TARGET_S:.0f} s)")
    out(f"  refusals the clients saw (then retried): "
        + (", ".join(f"{k}: {v}" for k, v in r["refusals"].items()) or "none"))
    out("")
    out(f"  accepted at the first try        {r['accepted_first']:>7}   stored exactly once {r['accepted_first_stored_once']:>7}")
    out(f"  refused 4xx, retried, accepted   {r['accepted_after_4xx']:>7}   stored exactly once {r['accepted_after_4xx_stored_once']:>7}")
    out(f"  given up after all retries       {r['gave_up']:>7}")
    out(f"  refused 5xx                      {r['refused_5xx']:>7}")
    out(f"  lost (accepted, not acted on)    {r['lost']:>7}")
    out(f"  duplicated (acted on twice)      {r['duplicated']:>7}")
    out(f"  extra copies stored, recorded ignored/duplicate: {r['extra_copies_ignored_duplicate']} "
        f"(of which left `received` by a killed milter and finished by recover_stale: "
        f"{r['stale_received_recovered']})")
    out(f"  reached Postfix's safety net (bounced): {r['safety_net_discards']}")
    for p in r["problems"]:
        out(f"  PROBLEM {p}")
    out(f"\n  {'OK: 0 lost, 0 duplicated' if r['ok'] else 'FAILED'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--kills", type=int, default=5, help="times host 0's milter is SIGKILLed and restarted")
    ap.add_argument("--db-stop", type=float, default=10.0, help="seconds PostgreSQL is stopped (0: never)")
    ap.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql",
                    help="the hosts' shared database (sqlite: one file on this machine)")
    ap.add_argument("--readonly", type=float, default=0.0,
                    help="seconds the SQLite files are made immutable, chattr +i (0: never; needs --database sqlite)")
    ap.add_argument("--restart-delay", type=float, default=1.0, help="seconds before a killed milter is started")
    ap.add_argument("--attempts", type=int, default=15, help="tries per message before a client gives up")
    ap.add_argument("--json", action="store_true", help="print the counts as JSON too")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, database)")
    args = ap.parse_args()

    h = load_harness()
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.2f}")
    t0 = time.monotonic()
    fleet = h.Fleet(hosts=2, users=10, tasks=40, keep=args.keep, database=args.database)
    with fleet:
        print(f"fleet up in {time.monotonic() - t0:.1f} s: {fleet.url}, "
              f"Postfix ports {[x.port for x in fleet.hosts]}")
        report = soak(fleet, messages=args.messages, clients=args.clients, kills=args.kills, db_stop=args.db_stop,
                      restart_delay=args.restart_delay, attempts=args.attempts, readonly=args.readonly)
        print_report(report)
        if args.json:
            print(json.dumps(report, indent=2))
        if args.keep:
            print(f"kept {fleet.work}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
