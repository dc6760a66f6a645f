#!/usr/bin/env python3
"""Benchmark: the milter's memory with many large messages at once (issue 20 item 8).

    .venv/bin/python -P bench/milter_memory.py [--messages 50] [--size-mb 9.5] [--kind reply|stranger]

A private Postfix (`postfix -c`, loopback port) with `mailgate milter` on a
unix socket and durable SQLite. `--messages` SMTP clients connect at once
and each sends one message of `--size-mb` MB: a known user's reply to a
task with one large attachment (`reply`: stored, parsed, the attachment
kept), or the same from a stranger to the create address (`stranger`:
stored, refused). Meanwhile the resident memory (VmRSS) of the milter and
of its writer process is sampled every 20 ms; at the end each process's
peak (VmHWM, the kernel's high-water mark) is read too.

Prints, in MB: both processes idle before (after a few small messages),
the peak of their sum as sampled, each one's VmHWM and their sum, and both
idle again 10 s after the last answer. The target: the sum of the peaks
under 300 MB, and idle memory back near where it started.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import shutil
import smtplib
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from milter_throughput import DOMAIN, children, count_processed, prepare, reply  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from privatepostfix import MilterProcess, PrivatePostfix  # noqa: E402

MB = 1024 * 1024


def status_kb(pid: int, field: str) -> int:
    """A field of /proc/PID/status in kB (VmRSS, VmHWM); 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def big_message(i: int, sender: str, to: str, size: int, attachment: bytes) -> bytes:
    """A reply with one attachment whose base64 fills the message to about `size` bytes."""
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: Re: the logs you asked for ({i})\r\n"
            f"Message-ID: <big-{i}-{time.time_ns()}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=BIG\r\n\r\n"
            "--BIG\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHere are the logs, see the attachment.\r\n\r\n"
            "--BIG\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=logs.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    return head.encode() + attachment + b"--BIG--\r\n"


def attachment_lines(size: int) -> bytes:
    """Base64 lines (76 characters + CRLF) of random bytes, about `size` bytes long."""
    data = os.urandom(size * 57 // 78)
    lines = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return lines


def writer_pid(milter_pid: int) -> int:
    """The milter's writer process (not multiprocessing's resource tracker, also its child)."""
    for pid in children(milter_pid):
        try:
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    raise RuntimeError("the milter has no writer process")


class Sampler(threading.Thread):
    """VmRSS of the processes every `interval` s; the peak of their sum."""

    def __init__(self, pids: list[int], interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pids, self.interval = pids, interval
        self.peak = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.peak = max(self.peak, sum(status_kb(p, "VmRSS") for p in self.pids))
            time.sleep(self.interval)


def send_all(port: int, jobs: list[tuple[str, str, bytes]]) -> tuple[float, list[str]]:
    errors: list[str] = []
    gate = threading.Barrier(len(jobs) + 1)

    def client(sender: str, rcpt: str, raw: bytes) -> None:
        gate.wait()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=600) as smtp:
                smtp.sendmail(sender, [rcpt], raw)
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code != 550:  # a stranger's message is refused after it was stored
                errors.append(f"{exc.smtp_code} {exc.smtp_error[:80]!r}")
        except Exception as exc:  # noqa: BLE001 -- reported
            errors.append(f"{exc.__class__.__name__}: {exc}")

    threads = [threading.Thread(target=client, args=job) for job in jobs]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, errors


def measure(messages: int, size: int, kind: str, work: Path, keep: bool = False, bursts: int = 1) -> dict:
    """Run the burst; return the numbers in MB (and the seconds it took, the errors, what was stored)."""
    env, targets = prepare(work / "instance", users=4, tasks=5)
    env["MAILGATE_MAX_MESSAGE_BYTES"] = str(max(size + MB, 10 * MB))
    pf = PrivatePostfix(domains=(DOMAIN,), extra={"message_size_limit": str(size + 2 * MB)})
    pf.milter_socket = str(pf.root / "queue" / "mailgate" / "milter.sock")
    milter = MilterProcess(env=env, socket_path=pf.milter_socket, log_path=work / "milter.log")
    lines = attachment_lines(size - 700)

    def burst_jobs(b: int) -> list[tuple[str, str, bytes]]:
        jobs = []
        for i in range(messages):
            mail, _, addr, _ = targets[i % len(targets)]
            sender, rcpt = (mail, addr) if kind == "reply" else ("mallory@evil.test", f"bugs@{DOMAIN}")
            jobs.append((sender, rcpt, big_message(b * messages + i, sender, rcpt, size, lines)))
        return jobs
    try:
        pf.start()
        milter.start()
        pids = [milter.proc.pid, writer_pid(milter.proc.pid)]
        for i in range(5):  # warm up: the writer's first messages load what it needs
            mail, full, addr, ref = targets[i]
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=60) as smtp:
                smtp.sendmail(mail, [addr], reply(i, mail, full, addr, ref))
        time.sleep(2.0)
        idle_before = [status_kb(p, "VmRSS") for p in pids]
        sampler = Sampler(pids)
        sampler.start()
        elapsed, errors, idle_after = 0.0, [], []
        for b in range(bursts):
            seconds, failed = send_all(pf.port, burst_jobs(b))
            elapsed, errors = elapsed + seconds, errors + failed
            time.sleep(10.0)
            idle_after.append([status_kb(p, "VmRSS") / 1024 for p in pids])
        sampler.stop_event.set()
        sampler.join()
        hwm = [status_kb(p, "VmHWM") for p in pids]
        pf.wait_queue_empty(300)
    finally:
        milter.stop()
        pf.stop(remove=not keep)
    stored = count_processed(env)
    return {"idle_before": [k / 1024 for k in idle_before], "peak_sum": sampler.peak / 1024,
            "hwm": [k / 1024 for k in hwm], "idle_after": idle_after,
            "seconds": elapsed, "errors": errors, "stored": stored}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--size-mb", type=float, default=9.5)
    ap.add_argument("--kind", choices=("reply", "stranger"), default="reply")
    ap.add_argument("--bursts", type=int, default=1, help="bursts one after another (idle memory after each)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, database)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mailgate-memory-", dir="/tmp"))
    os.chmod(work, 0o755)
    size = int(args.size_mb * MB)
    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"load {os.getloadavg()[0]:.2f} · {args.messages} x {size:,} bytes ({args.kind}) at once"
          + (f", {args.bursts} times" if args.bursts > 1 else ""))
    try:
        r = measure(args.messages, size, args.kind, work, args.keep, args.bursts)
    finally:
        if not args.keep:  # the database holds every message: about 1 GB a burst
            shutil.rmtree(work, ignore_errors=True)

    def pair(values: list[float]) -> str:
        return f"milter {values[0]:.0f} + writer {values[1]:.0f} = {sum(values):.0f} MB"

    print(f"  sent in {r['seconds']:.1f} s; errors: {len(r['errors'])}{(', first: ' + r['errors'][0]) if r['errors'] else ''}")
    print(f"  stored (source milter): {r['stored']}")
    print(f"  idle before:  {pair(r['idle_before'])}")
    print(f"  peak (VmHWM): {pair(r['hwm'])}; sampled peak of the sum {r['peak_sum']:.0f} MB")
    for b, idle in enumerate(r["idle_after"]):
        print(f"  idle 10 s after burst {b + 1}: {pair(idle)}")
    print(f"TARGET peak under 300 MB: {'met' if sum(r['hwm']) < 300 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
