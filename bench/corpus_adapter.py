#!/usr/bin/env python3
"""Score Mailgate's parser on ../shared/corpus, in one process.

    .venv/bin/python bench/corpus_adapter.py [--corpus DIR] [--show-fail N]
        [--source NAME] [--json out.json] [--markdown]

Prints, per trim source, exact and whitespace-normalised match (the same
metrics as corpus/score_trim.py); per robot class, precision and recall
(as corpus/score_classify.py, with the envelope sender unknown); and whether
every MIME file parses without an exception. The corpus's own scripts can be
run against the same code through
`python -m mailgate.shared.parsing --text|--class` (one process per message,
slower, same numbers).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import traceback
from pathlib import Path

from mailgate.shared.message import load_message
from mailgate.shared.parsing import classify_robot, parse_message

REPO = Path(__file__).resolve().parent.parent
LABELS = ["bounce", "auto_reply", "normal"]


def corpus_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("MAILGATE_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


def norm_exact(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n").strip()


def norm_ws(s: str) -> str:
    return " ".join(s.split())


def trim_text(raw: bytes) -> str:
    return parse_message(load_message(raw)).text


def robot_label(raw: bytes) -> str:
    return classify_robot(load_message(raw), None).kind or "normal"


def score_trim(root: Path, only: list[str] | None) -> list[dict]:
    results = []
    for src in sorted(p.name for p in (root / "trim").iterdir() if p.is_dir()):
        if only and src not in only:
            continue
        for eml in sorted((root / "trim" / src).glob("*.eml")):
            exp_path = eml.with_suffix(".expected.txt")
            if not exp_path.exists():
                continue
            expected = exp_path.read_text(encoding="utf-8")
            try:
                out, err = trim_text(eml.read_bytes()), None
            except Exception:
                out, err = None, traceback.format_exc(limit=2)
            results.append({
                "source": src, "name": eml.stem, "error": err,
                "exact": out is not None and norm_exact(out) == norm_exact(expected),
                "ws": out is not None and norm_ws(out) == norm_ws(expected),
                "output": out, "expected": expected,
            })
    return results


def score_classify(root: Path) -> tuple[list[dict], collections.Counter]:
    base = root / "classify"
    rows = [line.rstrip("\n").split("\t") for line in open(base / "labels.tsv", encoding="utf-8")][1:]
    results = []
    conf: collections.Counter = collections.Counter()
    for row in rows:
        try:
            verdict = classify_robot(load_message((base / row[0]).read_bytes()), None)
            pred, reason = verdict.kind or "normal", verdict.reason
        except Exception:
            pred, reason = "ERROR", traceback.format_exc(limit=2)
        conf[(row[1], pred)] += 1
        results.append({"file": row[0], "gold": row[1], "pred": pred, "reason": reason, "detail": row[2]})
    return results, conf


def score_mime(root: Path) -> list[dict]:
    results = []
    for path in sorted((root / "mime").rglob("*")):
        if not path.is_file() or path.suffix in (".tsv", ".md"):
            continue
        try:
            msg = load_message(path.read_bytes())
            parse_message(msg)
            classify_robot(msg, None)
            err = None
        except Exception:
            err = traceback.format_exc(limit=3)
        results.append({"file": str(path.relative_to(root / "mime")), "error": err})
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus")
    ap.add_argument("--source", action="append")
    ap.add_argument("--show-fail", type=int, default=0)
    ap.add_argument("--show-class-fail", type=int, default=0)
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown for bench/RESULTS.md")
    ap.add_argument("--write-pass-lists", metavar="DIR",
                    help="write the names of passing cases (tests/parsing/pass_lists/) for the regression tests")
    a = ap.parse_args()
    root = corpus_root(a.corpus)
    t0 = time.perf_counter()
    trim = score_trim(root, a.source)
    t1 = time.perf_counter()
    classified, conf = score_classify(root)
    t2 = time.perf_counter()
    mime = score_mime(root)
    t3 = time.perf_counter()

    md = a.markdown
    by: dict[str, list[int]] = {}
    for r in trim:
        b = by.setdefault(r["source"], [0, 0, 0, 0])
        b[0] += 1
        b[1] += r["exact"]
        b[2] += r["ws"]
        b[3] += r["error"] is not None
    if md:
        print("| trim source | n | exact | ws-normalised | errors |\n|---|---:|---:|---:|---:|")
    else:
        print("%-34s %5s %14s %14s %6s" % ("trim source", "n", "exact", "ws-normalised", "errors"))
    tot = [0, 0, 0, 0]
    rows = sorted(by.items()) + [("ALL", None)]
    for src, vals in rows:
        if vals is None:
            vals = tot
        else:
            tot = [x + y for x, y in zip(tot, vals)]
        n, e, w, er = vals
        if not n:
            continue
        if md:
            print(f"| {src} | {n} | {e} ({100 * e / n:.1f} %) | {w} ({100 * w / n:.1f} %) | {er} |")
        else:
            print("%-34s %5d %6d %6.1f%% %6d %6.1f%% %6d" % (src, n, e, 100 * e / n, w, 100 * w / n, er))

    n = len(classified)
    ok = sum(v for (g, p), v in conf.items() if g == p)
    print()
    if md:
        print(f"Classification: n={n}, accuracy {100 * ok / n:.1f} %\n")
        print("| class | n | precision | recall |\n|---|---:|---:|---:|")
    else:
        print("classify n=%d accuracy=%.1f%%" % (n, 100 * ok / n))
        print("%-12s %6s %9s %9s" % ("class", "n", "precision", "recall"))
    for c in LABELS:
        tp = conf[(c, c)]
        pp = sum(v for (g, p), v in conf.items() if p == c)
        gp = sum(v for (g, p), v in conf.items() if g == c)
        prec = 100 * tp / pp if pp else 0.0
        rec = 100 * tp / gp if gp else 0.0
        if md:
            print(f"| {c} | {gp} | {prec:.1f} % | {rec:.1f} % |")
        else:
            print("%-12s %6d %8.1f%% %8.1f%%" % (c, gp, prec, rec))
    if not md:
        print("confusion (rows=gold, cols=pred):", " ".join("%10s" % c for c in LABELS + ["ERROR"]))
        for g in LABELS:
            print("%-34s" % g, " ".join("%10d" % conf[(g, p)] for p in LABELS + ["ERROR"]))

    bad = [r for r in mime if r["error"]]
    print()
    by_dir = collections.Counter(r["file"].split("/")[0] for r in mime)
    bad_dir = collections.Counter(r["file"].split("/")[0] for r in bad)
    if md:
        print("| MIME source | files | parsed without exception |\n|---|---:|---:|")
        for d in sorted(by_dir):
            print(f"| {d} | {by_dir[d]} | {by_dir[d] - bad_dir[d]} |")
    else:
        for d in sorted(by_dir):
            print("mime %-28s %4d files, %4d parsed without exception" % (d, by_dir[d], by_dir[d] - bad_dir[d]))
    for r in bad:
        print("MIME ERROR", r["file"], r["error"].strip().splitlines()[-1])
    print()
    print("time: trim %.2fs, classify %.2fs, mime %.2fs" % (t1 - t0, t2 - t1, t3 - t2))

    if a.show_fail:
        shown: collections.Counter = collections.Counter()
        for r in trim:
            if r["exact"] or shown[r["source"]] >= a.show_fail:
                continue
            shown[r["source"]] += 1
            print("\n--- FAIL %s/%s%s %s" % (r["source"], r["name"], " (ws ok)" if r["ws"] else "", r["error"] or ""))
            print("expected: %r" % r["expected"][:600])
            print("got:      %r" % (r["output"] or "")[:600])
    if a.show_class_fail:
        shown_n = 0
        for r in classified:
            if r["gold"] != r["pred"] and shown_n < a.show_class_fail:
                shown_n += 1
                print("CLASS FAIL %s gold=%s pred=%s (%s) [%s]" % (r["file"], r["gold"], r["pred"], r["detail"], r["reason"]))
    if a.write_pass_lists:
        out = Path(a.write_pass_lists)
        out.mkdir(parents=True, exist_ok=True)
        for src in sorted({r["source"] for r in trim}):
            names = [r["name"] for r in trim if r["source"] == src and r["exact"]]
            (out / f"trim_{src}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
        ok = [r["file"] for r in classified if r["gold"] == r["pred"]]
        (out / "classify.txt").write_text("\n".join(ok) + "\n", encoding="utf-8")
        print(f"pass lists written to {out}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump({"trim": trim, "classify": classified, "mime": mime}, fh, ensure_ascii=False, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
