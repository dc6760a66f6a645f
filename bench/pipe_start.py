"""Benchmark: wall and CPU time of one `mailgate receive` (the pipe ingress: a process per message).

    .venv/bin/python -P bench/pipe_start.py [-n 20] [--mailgate PATH ...]

Each run is what Postfix's pipe(8) does for one message: start `mailgate
receive`, hand it a ~4 KB reply to a signed reply address on stdin, wait
for its exit (stored, processed, durable). CPU is the child's user + system
time (getrusage), which other processes on a shared machine inflate far
less than wall time. With several `--mailgate` executables (e.g. an older
checkout's), runs alternate between them so both see the same load.
Also reported: a bare `python -c pass` of the same interpreter (the floor).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "ingress"))
from ingress_throughput import fresh, processed  # noqa: E402
from receive_speed import reply  # noqa: E402


def timed(args: list[str], env: dict, data: bytes) -> tuple[float, float]:
    """(wall s, CPU s) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(args, input=data, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def summary(name: str, samples: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return (f"| {name} | {len(samples)} | {statistics.median(walls):.3f} | {min(walls):.3f} | "
            f"{statistics.median(cpus):.3f} | {min(cpus):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="messages per executable (default 20)")
    ap.add_argument("--mailgate", action="append", default=[],
                    help="a `mailgate` console script to time (repeatable; default: this venv's)")
    args = ap.parse_args()
    exes = args.mailgate or [str(Path(sys.executable).with_name("mailgate"))]
    tmp = Path(tempfile.mkdtemp(prefix="mailgate-pipe-bench-"))
    setups = {exe: fresh(tmp, f"i{i}") for i, exe in enumerate(exes)}
    samples: dict[str, list[tuple[float, float]]] = {exe: [] for exe in exes}
    floor: list[tuple[float, float]] = []
    for k in range(args.n):
        for exe in exes:
            env, _, addr = setups[exe]
            samples[exe].append(timed([exe, "receive", "--sender", "bob@example.org", "--recipient", addr],
                                      env, reply(k, addr)))
        floor.append(timed([sys.executable, "-c", "pass"], os.environ.copy(), b""))
    for exe in exes:
        db = setups[exe][1]
        assert processed(db) == args.n, f"{exe}: {processed(db)} of {args.n} processed"
        db.dispose()
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"load {load[0]:.1f}")
    print("| executable | messages | wall median s | wall min s | CPU median s | CPU min s |")
    print("|---|---:|---:|---:|---:|---:|")
    for exe in exes:
        print(summary(exe, samples[exe]))
    print(summary("python -c pass", floor))


if __name__ == "__main__":
    main()
