#!/usr/bin/env python3
"""How many corpus-style replies the reply marker rescues, when the quoted message carries it.

    .venv/bin/python -P bench/marker_rescue.py [--corpus DIR] [--baseline PARSING_DIR] [--show N]

Every reply of the trim corpus (MAILGATE_CORPUS, else ../shared/corpus) and
every reply written for tests/fixtures/replies is scored twice: as it is,
and with the quoted message made into a Mailgate notification, i.e. with
`##- Reply above this line -##` as its first line (inside the quote, after
the client's own attribution line; for unquoted Outlook history, after the
header block). Reported: exact matches without and with the marker, the
replies the marker rescues, and any it would break. `--baseline` scores an
older copy of shared/parsing (a folder, e.g. from `git archive`) the same
way: a trimmer that does not know the marker, then the same trimmer with
only the marker step put in front of it (cut at the marker as trim.py does,
then its own rules on what is left), to show what the marker alone rescues.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reply_cases import ROOT, _blocks, build_message, normalise  # noqa: E402

from mailgate.shared.message import load_message  # noqa: E402
from mailgate.shared.parsing import patterns as P  # noqa: E402
from mailgate.shared.parsing.body import extract_body  # noqa: E402
from mailgate.shared.parsing.trim import _classify, _Cutter, _cut_at_marker, _split  # noqa: E402

MARKER = "##- Reply above this line -##"


def with_marker(text: str, expected: str) -> str | None:
    """The reply with the quoted message starting with the marker; None when there is no history below the reply.

    The history starts below the reply's last line (the expected text says
    where that is): at its first quoted line (after the client's attribution
    when the client put it inside the quote), or, for unquoted Outlook
    history, after the header block.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    want = [ln for ln in normalise(expected).split("\n") if ln.strip()]
    if not want:
        return None
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].rstrip() == want[-1].rstrip()), None)
    if last is None:
        return None
    below = range(last + 1, len(lines))
    quoted = next((i for i in below if lines[i].lstrip().startswith(">")), None)
    block = next((i for i in below if P.is_from_header_line(lines[i].strip()) or P.is_separator(lines[i].strip())), None)
    if quoted is not None and (block is None or quoted < block):
        prefix = lines[quoted][: len(lines[quoted]) - len(lines[quoted].lstrip(" >"))].rstrip() or ">"
        at = quoted
        if P.quote_header(lines[at].lstrip(" >").strip()):  # Apple Mail: the attribution inside the quote
            at += 1
            while at < len(lines) and lines[at].lstrip().startswith(">") and not lines[at].strip(" >"):
                at += 1
        return "\n".join(lines[:at] + [f"{prefix} {MARKER}"] + lines[at:])
    if block is None:
        return None
    end = next((i for i in range(block, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[:end + 1] + [MARKER, ""] + lines[end + 1:])


def cases(corpus: Path | None) -> list[tuple[str, bytes, bytes | None, str]]:
    """(id, raw, raw with the marker or None, expected text) for every reply."""
    out = []
    if corpus and (corpus / "trim").is_dir():
        for eml in sorted((corpus / "trim").rglob("*.eml")):
            expected = eml.with_suffix(".expected.txt")
            if not expected.exists():
                continue
            raw = eml.read_bytes()
            head, sep, body = raw.partition(b"\n\n")
            marked = with_marker(body.decode("utf-8", "surrogateescape"), expected.read_text(encoding="utf-8"))
            raw_marked = head + sep + marked.encode("utf-8", "surrogateescape") if marked is not None else None
            out.append((f"corpus/{eml.parent.name}/{eml.stem}", raw, raw_marked, expected.read_text(encoding="utf-8")))
    for path in sorted((ROOT / "written").glob("*.txt")):
        for i, (name, fields, sections) in enumerate(_blocks(path.read_text(encoding="utf-8"))):
            if fields.get("mode", "reply") != "reply":
                continue
            marked = with_marker(sections.get("text", ""), sections.get("expected", ""))
            raw = build_message(fields, sections, i)
            raw_marked = build_message(fields, {**sections, "text": marked}, i) if marked is not None else None
            out.append((f"written/{path.stem}/{name}", raw, raw_marked, sections.get("expected", "")))
    return out


def load_parsing(folder: str | None):
    """parse_message of this checkout; of an older copy of shared/parsing, with the marker step in front."""
    if folder is None:
        from mailgate.shared.parsing import parse_message
        return parse_message
    spec = importlib.util.spec_from_file_location("mailgate.shared.parsing_baseline", Path(folder) / "__init__.py",
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)

    class WithMarker:
        def __call__(self, msg):
            return module.parse_text(cut_at_marker(extract_body(msg).text))

    return module.parse_message, WithMarker()


def cut_at_marker(text: str) -> str:
    """The marker step alone, as trim.py runs it first: the text that is left for the other rules."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _split(text)
    _classify(lines)
    cutter = _Cutter(lines)
    _cut_at_marker(cutter, text)
    return "\n".join(ln.raw for ln in cutter.lines)


def score(plain_parse, marked_parse, data) -> dict:
    """Exact matches without the marker (plain_parse) and with it (marked_parse on the marked copy)."""
    res = {"n": 0, "marked": 0, "plain": 0, "with": 0, "rescued": [], "broken": []}
    for cid, raw, marked, expected in data:
        want = normalise(expected)
        ok_plain = normalise(plain_parse(load_message(raw)).text) == want
        res["n"] += 1
        res["plain"] += ok_plain
        if marked is None:
            res["with"] += ok_plain
            continue
        res["marked"] += 1
        ok_marked = normalise(marked_parse(load_message(marked)).text) == want
        res["with"] += ok_marked
        if ok_marked and not ok_plain:
            res["rescued"].append(cid)
        if ok_plain and not ok_marked:
            res["broken"].append(cid)
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.environ.get("MAILGATE_CORPUS") or str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--baseline", help="an older shared/parsing folder to score the same way")
    ap.add_argument("--show", type=int, default=0)
    a = ap.parse_args()
    data = cases(Path(a.corpus))
    for label, folder in (("baseline", a.baseline), ("this checkout", None)):
        if label == "baseline" and not folder:
            continue
        parsers = load_parsing(folder)
        plain, marked = parsers if isinstance(parsers, tuple) else (parsers, parsers)
        for group in ("corpus/", "written/"):
            part = [c for c in data if c[0].startswith(group)]
            r = score(plain, marked, part)
            print(f"{label:14} {group:9} replies {r['n']:3} (marker placed in {r['marked']}): exact without the marker "
                  f"{r['plain']:3}, with it {r['with']:3}; rescued {len(r['rescued'])}, broken {len(r['broken'])}")
            for cid in (r["rescued"] + [f"BROKEN {b}" for b in r["broken"]])[: a.show]:
                print("   ", cid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
