#!/usr/bin/env python3
"""Score reply trimming on the fixtures in tests/fixtures/replies, tune and held-out halves apart.

    .venv/bin/python -P bench/reply_fixtures.py [--show-fail N] [--half tune|held] [--markdown]

Per source (GitLab's fixtures, and each failure shape of the replies written
for Mailgate) and per half: exact matches (after unifying line ends and
trailing spaces), replies whose words were lost entirely (the expected text
has words, the result is empty), and for mail to a create address whether
the task title is the expected one too. Failures are listed for the tune half
only unless --half held is asked for: the held-out half is for measuring,
not for tuning.
"""

from __future__ import annotations

import argparse
import collections
import inspect
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reply_cases import Case, all_cases, normalise  # noqa: E402

from mailgate.shared.message import header_text, load_message  # noqa: E402
from mailgate.shared.parsing import parse_message  # noqa: E402
from mailgate.shared.tracker import make_title  # noqa: E402

_CREATE = "for_create" in inspect.signature(parse_message).parameters


def run(case: Case) -> tuple[str, str | None, bool]:
    """(text, title or None, fallback) as Mailgate makes them for this case."""
    msg = load_message(case.raw)
    parsed = parse_message(msg, for_create=case.mode == "create") if _CREATE else parse_message(msg)
    title = None
    if case.mode == "create":
        forwarded = getattr(parsed, "forwarded_subject", None)
        try:
            title = make_title(header_text(msg, "Subject"), parsed.text, forwarded)
        except TypeError:
            title = make_title(header_text(msg, "Subject"), parsed.text)
    return parsed.text, title, bool(getattr(parsed, "fallback", False))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-fail", type=int, default=0)
    ap.add_argument("--half", choices=["tune", "held"], default="tune", help="whose failures to show")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()

    stats: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    failures: list[tuple[Case, str, str | None]] = []
    for case in all_cases():
        text, title, fallback = run(case)
        want = normalise(case.expected)
        ok_text = normalise(text) == want
        ok_title = case.title is None or (title or "").strip() == case.title.strip()
        lost = bool(want.strip()) and not text.strip()
        for key in ((case.source, case.half), ("all", case.half)):
            c = stats[key]
            c["n"] += 1
            c["exact"] += ok_text and ok_title
            c["lost"] += lost
            c["fallback"] += fallback
            c["ws"] += " ".join(text.split()) == " ".join(want.split())
        if not (ok_text and ok_title) and case.half == a.half:
            failures.append((case, text, title))

    sources = sorted({s for s, _ in stats if s != "all"}) + ["all"]
    if a.markdown:
        print("| source | tune exact | held-out exact | held-out words lost | held-out fallback |")
        print("|---|---|---|---|---|")
    for src in sources:
        t, h = stats[(src, "tune")], stats[(src, "held")]
        if a.markdown:
            print(f"| {src} | {t['exact']}/{t['n']} | {h['exact']}/{h['n']} ({100 * h['exact'] / max(h['n'], 1):.0f} %) "
                  f"| {h['lost']} | {h['fallback']} |")
        else:
            print(f"{src:32} tune {t['exact']:3}/{t['n']:<3} lost {t['lost']}   "
                  f"held {h['exact']:3}/{h['n']:<3} ({100 * h['exact'] / max(h['n'], 1):5.1f} %) lost {h['lost']} "
                  f"fallback {h['fallback']}")
    for case, text, title in failures[: a.show_fail]:
        print(f"\n=== {case.id} ({case.half}, {case.mode})\n--- got" + (f" (title {title!r})" if title is not None else ""))
        print(text)
        print("--- want" + (f" (title {case.title!r})" if case.title else ""))
        print(normalise(case.expected))
    return 0


if __name__ == "__main__":
    sys.exit(main())
