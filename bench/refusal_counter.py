"""Cost of counting RCPT refusals (shared/refusals.py): add() on the refusal path, flush() off it.

    PYTHONSAFEPATH=1 .venv/bin/python bench/refusal_counter.py [-n 1000000]

add() runs in the milter's RCPT callback for every refused address; flush()
runs in its own thread every 5 s. Prints ns per add(), and the time of one
flush of 3 reasons into SQLite (the upsert), next to the RCPT refusal's
database lookup it sits beside (one prepared SELECT, measured the same way).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1_000_000)
    args = ap.parse_args()
    from mailgate.shared import schema
    from mailgate.shared.config import from_env
    from mailgate.shared.db import Database, utcnow
    from mailgate.shared.refusals import RefusalCounter

    counter = RefusalCounter()
    reasons = ("unknown_recipient", "invalid_hash", "object_not_found")
    now = utcnow()
    t0 = time.perf_counter()
    for i in range(args.n):
        counter.add(reasons[i % 3], now)
    per_add = (time.perf_counter() - t0) / args.n * 1e9
    no_when = time.perf_counter()
    for i in range(args.n // 10):
        counter.add(reasons[i % 3])
    per_add_clock = (time.perf_counter() - no_when) / (args.n // 10) * 1e9

    with tempfile.TemporaryDirectory() as tmp:
        settings = from_env({"MAILGATE_INSTANCE": tmp, "MAILGATE_SECRET_KEY": "x", "MAILGATE_CONFIG": ""})
        db = Database.from_settings(settings)
        schema.init(db)
        flushes = []
        for _ in range(20):
            for i in range(300):
                counter.add(reasons[i % 3])
            t = time.perf_counter()
            counter.flush(db)
            flushes.append((time.perf_counter() - t) * 1000)
        flushes.sort()
        db.dispose()
        size = Path(tmp, "mailgate.db").stat().st_size
    print(f"add(): {per_add:.0f} ns (time given), {per_add_clock:.0f} ns (reads the clock); "
          f"flush of 3 reasons: median {flushes[len(flushes) // 2]:.2f} ms, max {flushes[-1]:.2f} ms; "
          f"database after {args.n + args.n // 10 + 6000} refusals: {size} bytes")


if __name__ == "__main__":
    main()
