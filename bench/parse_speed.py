"""Benchmark: CPU per message of the parsing stage (robot guard + parse_message).

    .venv/bin/python -P bench/parse_speed.py [-n 2000] [--repeat 5] [--corpus DIR] [--profile]

Measures CPU time (time.process_time, so a noisy machine matters less) per
message for

    load     mailgate.shared.message.load_message (the email package's
             compat32 parser; a single-part body is not cut into lines):
             the baseline, measured in the same run
    guard    mailgate.shared.guard.check (own-mail header, classify_robot)
    parse    mailgate.shared.parsing.parse_message

on the realistic ~3.9 KB reply of bench/receive_speed.py, and on every
message of ../shared/corpus (trim, classify and mime folders). Each figure is
the best of --repeat runs; the ratio to `load` makes runs on different
machines comparable. --profile prints a cProfile of guard+parse on the
bench reply instead.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import sys
import time
from pathlib import Path

from mailgate.shared import guard
from mailgate.shared.message import load_message
from mailgate.shared.outcomes import Ignore
from mailgate.shared.parsing import parse_message

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))  # bench/ only, never the repo root (milter/ would shadow pymilter)
from receive_speed import reply  # noqa: E402


def corpus_messages(root: Path) -> list[bytes]:
    if not root.is_dir():
        return []
    return [p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix not in (".tsv", ".md", ".py", ".txt")]


def _guard(msg) -> None:
    try:
        guard.check(msg, None)
    except Ignore:
        pass


def measure(raws: list[bytes], repeat: int) -> dict[str, float]:
    """Best-of-`repeat` CPU seconds per message for each stage."""
    best = {"load": float("inf"), "guard": float("inf"), "parse": float("inf")}
    for _ in range(repeat):
        # Fresh objects each run, as in the pipeline: guard and parse may
        # share what they read from one message, never across runs.
        msgs = [load_message(r) for r in raws]
        t0 = time.process_time()
        for raw in raws:
            load_message(raw)
        t1 = time.process_time()
        for msg in msgs:
            _guard(msg)
        t2 = time.process_time()
        for msg in msgs:
            parse_message(msg)
        t3 = time.process_time()
        for key, value in (("load", t1 - t0), ("guard", t2 - t1), ("parse", t3 - t2)):
            best[key] = min(best[key], value / len(raws))
    return best


def report(title: str, best: dict[str, float]) -> None:
    both = best["guard"] + best["parse"]
    print(f"{title}: load {best['load'] * 1e3:.3f} ms · guard {best['guard'] * 1e3:.3f} ms · "
          f"parse {best['parse'] * 1e3:.3f} ms · guard+parse {both * 1e3:.3f} ms "
          f"= {both / best['load']:.2f}× load")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=2000, help="bench replies per run (default 2000)")
    ap.add_argument("--repeat", type=int, default=5, help="runs; the best is kept (default 5)")
    ap.add_argument("--corpus", default=os.environ.get("MAILGATE_CORPUS") or str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--profile", action="store_true", help="cProfile guard+parse on the bench reply")
    args = ap.parse_args()

    replies = [reply(i, "r+T1.abc@reply.example.com") for i in range(args.n)]
    for raw in replies[:50]:  # warm-up: imports, regex caches
        msg = load_message(raw)
        _guard(msg)
        parse_message(msg)
    if args.profile:
        msgs = [load_message(r) for r in replies]
        prof = cProfile.Profile()
        prof.enable()
        for msg in msgs:
            _guard(msg)
            parse_message(msg)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        return

    print(f"machine: {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
          f"CPU time, best of {args.repeat}")
    report(f"bench reply ({len(replies[0])} B) ×{args.n}", measure(replies, args.repeat))
    corpus = corpus_messages(Path(args.corpus))
    if corpus:
        report(f"corpus ({len(corpus)} files)", measure(corpus, args.repeat))


if __name__ == "__main__":
    main()
