#!/usr/bin/env python3
"""Benchmark: a legitimate reply's latency while strangers flood a create address with costly MIME.

    .venv/bin/python -P bench/authorise_attack.py [--attackers 20] [--seconds 20] [--parts 4999]

A private Postfix (`postfix -c`, own queue, loopback port) with `mailgate
milter` on a unix socket and durable SQLite. `--attackers` SMTP clients
each send, one connection after another, a ~250 KB message of `--parts`
tiny HTML alternatives from an unknown sender to the create address: every
one is stored and refused (`550 5.7.1`, unknown_sender). Meanwhile one
client sends a real user's reply to a task's reply address every
`--interval` seconds and times it: the DATA command to its final answer
(the milter stores, processes and fsyncs it before that answer), and the
whole message from connect. The same replies are first timed with no
attack, for comparison.

Sender authentication and the rate limits are off: the point is the
writer's work per message (the rate limits would throttle a flood from one
address; a real one comes from many). Prints the latency percentiles, the
attack's rate, and the writer's CPU per attack message.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import smtplib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from milter_throughput import DOMAIN, MachineCpu, children, cpu_seconds, prepare, reply  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from privatepostfix import MilterProcess, PrivatePostfix  # noqa: E402


LOUD = 20_000  # the legitimate replies timed under attack are numbered from here


def hostile(i: int, parts: int) -> bytes:
    """One multipart/alternative of `parts` tiny HTML parts, from a stranger (the issue's attack message)."""
    return (f"From: Mallory <mallory@evil.test>\r\nTo: bugs@{DOMAIN}\r\nSubject: special offer {i}\r\n"
            f"Message-ID: <attack-{i}-{time.time_ns()}@evil.test>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/alternative; boundary=ALT\r\n\r\n").encode() + _alternatives(parts)


@functools.lru_cache(maxsize=None)
def _alternatives(parts: int) -> bytes:
    """The attack's body, built once: the SMTP clients share the machine with what is measured."""
    return "".join(f"--ALT\r\nContent-Type: text/html\r\n\r\n<p>offer {k}</p>\r\n"
                   for k in range(parts)).encode() + b"--ALT--\r\n"


class Attack:
    """`n` clients sending the hostile message until stopped; counts what they got."""

    def __init__(self, port: int, n: int, parts: int) -> None:
        self.port, self.n, self.parts = port, n, parts
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.refused = self.other = 0
        self.threads = [threading.Thread(target=self._client, args=(c,), daemon=True) for c in range(n)]

    def _client(self, c: int) -> None:
        i = 0
        while not self.stop.is_set():
            i += 1
            raw = hostile(c * 1_000_000 + i, self.parts)
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=120) as smtp:
                    smtp.sendmail("mallory@evil.test", [f"bugs@{DOMAIN}"], raw)
                outcome = "other"
            except smtplib.SMTPDataError as exc:
                outcome = "refused" if exc.smtp_code == 550 else "other"
            except Exception:  # noqa: BLE001 -- counted
                outcome = "other"
            with self.lock:
                setattr(self, outcome, getattr(self, outcome) + 1)

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(180)


def legit(port: int, targets, start: int, seconds: float, interval: float) -> tuple[list[float], list[float], int]:
    """Replies one after another for `seconds`: (DATA latencies, whole-message latencies, errors)."""
    data, whole, errors = [], [], 0
    deadline = time.monotonic() + seconds
    i = start
    while time.monotonic() < deadline:
        mail, full, addr, ref = targets[i % len(targets)]
        raw = reply(i, mail, full, addr, ref)
        i += 1
        t0 = time.perf_counter()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
                smtp.ehlo("legit.example.org")
                smtp.mail(mail)
                code, _ = smtp.rcpt(addr)
                t1 = time.perf_counter()
                code, text = smtp.data(raw)
                t2 = time.perf_counter()
            if code != 250:
                errors += 1
                continue
        except Exception:  # noqa: BLE001 -- counted
            errors += 1
            continue
        data.append(t2 - t1)
        whole.append(t2 - t0)
        time.sleep(interval)
    return data, whole, errors


def show(label: str, data: list[float], whole: list[float], errors: int) -> float:
    def p(values: list[float], q: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))] * 1000 if values else float("nan")

    median = statistics.median(data) * 1000 if data else float("nan")
    print(f"  {label:<28} {len(data):4d} replies, {errors} errors; DATA->250 p50 {median:7.1f} ms, "
          f"p90 {p(data, 90):7.1f}, max {p(data, 100):7.1f}; whole message p50 {p(whole, 50):7.1f} ms")
    return median


def stages(log_path: Path, first: int) -> None:
    """Where the milter says the time went (its one line per message), under attack: the legitimate
    replies (numbered from `first`) and the attack messages. ms counts from MAIL FROM; receive_ms is
    the writer's round trip (queue, batch, store, steps, fsync)."""
    rows: dict[str, list[dict[str, str]]] = {"legitimate replies": [], "attack messages": []}
    for line in log_path.read_text(errors="replace").splitlines():
        if " mailgate.milter message " not in line:
            continue
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        mid = fields.get("mid", "")
        if mid.startswith("attack-"):
            rows["attack messages"].append(fields)
        elif mid.startswith("bench-") and int(mid.split("-")[1]) >= first:
            rows["legitimate replies"].append(fields)
    names = ("ms", "receive_ms", "store_ms", "route_ms", "parse_ms", "act_ms", "sync_ms", "batch")
    for label, found in rows.items():
        if found:
            medians = {n: statistics.median(float(r.get(n, "nan")) for r in found) for n in names}
            print(f"  {label} under attack, milter's medians: "
                  + ", ".join(f"{n} {v:.1f}" for n, v in medians.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--attackers", type=int, default=20)
    ap.add_argument("--parts", type=int, default=4999)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long each phase times replies")
    ap.add_argument("--interval", type=float, default=0.1, help="pause between two legitimate replies")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (database, milter log)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailgate-attack-", dir="/tmp"))
    os.chmod(work, 0o755)
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.2f} · attack message {len(hostile(0, args.parts)):,} bytes, "
          f"{args.parts} alternatives")
    env, targets = prepare(work / "instance", users=4, tasks=10)
    pf = PrivatePostfix(domains=(DOMAIN,))
    pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
    milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=work / "milter.log")
    try:
        pf.start()
        milter.start()
        writer = next(p for p in children(milter.proc.pid)
                      if b"resource_tracker" not in Path(f"/proc/{p}/cmdline").read_bytes())
        legit(pf.port, targets, 0, 2.0, args.interval)  # warm up
        quiet = legit(pf.port, targets, 10_000, args.seconds, args.interval)
        attack = Attack(pf.port, args.attackers, args.parts)
        attack.start()
        time.sleep(3.0)  # the flood under way
        c0, m0, t0 = (cpu_seconds(writer), cpu_seconds(milter.proc.pid)), MachineCpu.now(), time.perf_counter()
        refused0 = attack.refused
        loud = legit(pf.port, targets, LOUD, args.seconds, args.interval)
        writer_cpu, milter_cpu = cpu_seconds(writer) - c0[0], cpu_seconds(milter.proc.pid) - c0[1]
        elapsed, refused, machine = time.perf_counter() - t0, attack.refused - refused0, MachineCpu.now().since(m0)
        attack.finish()
    finally:
        milter.stop()
        pf.stop(remove=not args.keep)
    print(f"legitimate replies (one at a time, {args.interval:.2f} s apart), {args.attackers} attack sessions:")
    show("no attack", *quiet)
    median = show("under attack", *loud)
    print(f"  attack: {refused / elapsed:.0f} messages/s refused (550) while timed, {attack.other} other answers; "
          f"writer CPU {writer_cpu / elapsed:.0%} of a core, {writer_cpu * 1000 / max(1, refused):.2f} ms per "
          f"attack message; milter process (its SMTP sessions) {milter_cpu / elapsed:.0%} of a core")
    whole = machine.busy + machine.idle + machine.steal
    print(f"  machine while timed: cores {machine.busy / whole:.0%} busy ({machine.steal / whole:.0%} stolen), "
          f"SMTP clients (this process) {machine.clients / elapsed:.0%} of a core, load {os.getloadavg()[0]:.2f}")
    stages(work / "milter.log", LOUD)
    print(f"TARGET legitimate reply under attack, median DATA->250 < 100 ms: {'met' if median < 100 else 'NOT met'}")
    if args.keep:
        print(f"kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)  # ~150 MB of database per run
    return 0


if __name__ == "__main__":
    sys.exit(main())
